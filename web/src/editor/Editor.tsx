// Flow editor: nodes over the YAML/JSON flow format `islands flow run` reads. Drag an op from
// the palette, connect an output to a `from` port (variants) or a text port ({name} in the
// template), fill the form generated from the JSON Schema; errors from the server's validator
// show on the node. Ctrl+Z/Ctrl+Y undo/redo, Ctrl+C/Ctrl+V copy/paste, Delete removes;
// Load/Save read and write flow files; Run draws the live tree.
import {
  Background,
  Controls,
  Handle,
  Position,
  ReactFlow,
  ReactFlowProvider,
  applyNodeChanges,
  useReactFlow,
  type Connection,
  type EdgeChange,
  type Node,
  type NodeChange,
  type NodeProps,
} from "@xyflow/react";
import * as yaml from "js-yaml";
import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState } from "react";
import { download, getJson, pickFile, postJson } from "../api";
import TreeView from "../tree/TreeView";
import { resultsOf } from "../tree/model";
import { useFlowRun } from "../tree/run";
import { arrange, edgesOf, flowId, freshId, fromFlow, newFields, newUid, portOf, toFlow, withFrames, type FlowNode, type NodeData } from "./graph";
import NodeForm from "./NodeForm";
import { opsOf, refs, takesFrom, templateField, type OpSpec } from "./schema";

type Ctx = { specs: Record<string, OpSpec>; errors: Record<string, string>; results: Record<string, string> };
const EditorCtx = createContext<Ctx>({ specs: {}, errors: {}, results: {} });
const STORE = "islands.editor.v1";

function FlowBox({ data, selected }: NodeProps<Node<NodeData>>) {
  const { specs, errors, results } = useContext(EditorCtx);
  const spec = specs[data.op];
  const id = String(data.fields.id ?? "");
  const error = errors[id];
  const out = data.kind === "input" ? "text" : portOf({ data } as FlowNode);
  const tpl = templateField(spec);
  const summary = data.kind === "input" ? String(data.fields.value ?? "") : tpl ? String(data.fields[tpl] ?? "") : data.fields.from ? `from ${data.fields.from}` : "";
  return (
    <div className={`fnode ${data.kind}${error ? " invalid" : ""}${selected ? " selected" : ""}`} data-testid="flow-node" data-id={id} data-op={data.op}>
      {takesFrom(spec) && (
        <Handle type="target" id="from" position={Position.Left} style={{ top: 22 }} className="port variants" data-testid="port-from" />
      )}
      {tpl && <Handle type="target" id="tpl" position={Position.Left} style={{ top: 50 }} className="port text" data-testid="port-tpl" />}
      <div className="fhead">
        <b>{id || "(no id)"}</b> <span className="op">{data.op}</span>
      </div>
      <div className="fports">
        {takesFrom(spec) && <span className="variants">from · variants</span>}
        {tpl && <span className="text">{`{refs} in ${tpl}`}</span>}
      </div>
      {summary && <div className="fsum">{summary.length > 70 ? summary.slice(0, 69) + "…" : summary}</div>}
      {results[id] !== undefined && (
        <div className="fres" data-testid="node-result" title={results[id]}>
          ⇒ {results[id].length > 80 ? results[id].slice(0, 79) + "…" : results[id] || "(empty)"}
        </div>
      )}
      {error && (
        <div className="ferr" data-testid="node-error">
          {error}
        </div>
      )}
      <Handle type="source" id="out" position={Position.Right} className={`port ${out}`} data-testid="port-out" />
      <span className={`outlabel ${out}`}>{out}</span>
    </div>
  );
}

function GroupFrame({ data, selected }: NodeProps<Node<NodeData>>) {
  return (
    <div className={`gframe${selected ? " selected" : ""}`} data-testid="group-frame" data-id={String(data.fields.id ?? "")}>
      <span className="glabel">{String(data.fields.id ?? "")}</span>
    </div>
  );
}

const nodeTypes = { flow: FlowBox, group: GroupFrame };

function load(): { name: string; nodes: FlowNode[] } {
  try {
    const saved = JSON.parse(localStorage.getItem(STORE) ?? "null");
    if (saved?.nodes) return saved;
  } catch {
    /* start afresh */
  }
  return { name: "my-flow", nodes: [] };
}

function Inner() {
  const rf = useReactFlow();
  const [schema, setSchema] = useState<any>(null);
  const [name, setName] = useState(() => load().name);
  const [nodes, setNodes] = useState<FlowNode[]>(() => load().nodes);
  // undo history: snapshots of the nodes, kept in a ref so that undo and redo have no side effects inside state updaters
  const undoStack = useRef<{ past: FlowNode[][]; future: FlowNode[][] }>({ past: [], future: [] });
  const [, setTick] = useState(0);
  const bump = () => setTick((t) => t + 1);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [problem, setProblem] = useState("");
  const [note, setNote] = useState("");
  const clip = useRef<FlowNode[]>([]);
  const nodesRef = useRef(nodes);
  nodesRef.current = nodes;
  const { state, running, run, stop } = useFlowRun();

  useEffect(() => {
    getJson<any>("/islands/flows/schema").then(setSchema, (e) => setProblem((e as Error).message));
  }, []);
  const ops = useMemo(() => (schema ? opsOf(schema) : []), [schema]);
  const specs = useMemo(() => Object.fromEntries(ops.map((o) => [o.op, o])), [ops]);

  const commit = useCallback(() => {
    undoStack.current.past = [...undoStack.current.past.slice(-99), nodesRef.current];
    undoStack.current.future = [];
    bump();
  }, []);
  const change = useCallback(
    (next: (ns: FlowNode[]) => FlowNode[]) => {
      commit();
      const made = next(nodesRef.current);
      nodesRef.current = made;
      setNodes(made);
    },
    [commit],
  );
  const travel = useCallback((from: "past" | "future") => {
    const h = undoStack.current;
    const target = from === "past" ? h.past.at(-1) : h.future[0];
    if (!target) return;
    if (from === "past") {
      h.past = h.past.slice(0, -1);
      h.future = [nodesRef.current, ...h.future];
    } else {
      h.future = h.future.slice(1);
      h.past = [...h.past, nodesRef.current];
    }
    nodesRef.current = target;
    setNodes(target);
    bump();
  }, []);
  const undo = useCallback(() => travel("past"), [travel]);
  const redo = useCallback(() => travel("future"), [travel]);

  const doc = useMemo(() => toFlow(name, "", nodes), [name, nodes]);

  useEffect(() => {
    localStorage.setItem(STORE, JSON.stringify({ name, nodes }));
    if (!nodes.length) {
      setErrors({});
      setProblem("");
      return;
    }
    const t = setTimeout(() => {
      postJson<{ ok: boolean; error?: string; node?: string }>("/islands/flows/validate", { flow: doc }).then(
        (r) => {
          setErrors(r.ok || !r.node ? {} : { [r.node]: r.error ?? "" });
          setProblem(r.ok ? "" : r.error ?? "");
        },
        (e) => setProblem((e as Error).message),
      );
    }, 250);
    return () => clearTimeout(t);
  }, [doc, name, nodes]);

  const edges = useMemo(() => edgesOf(nodes), [nodes]);
  const drawn = useMemo(() => withFrames(nodes), [nodes]);

  const group = useCallback(() => {
    const members = nodesRef.current.filter((n) => n.selected && n.data.kind !== "group").map(flowId);
    if (members.length < 2) return;
    change((ns) => [
      ...ns.map((n) => ({ ...n, selected: false })),
      { id: newUid(), type: "group", position: { x: 0, y: 0 }, data: { kind: "group", op: "group", fields: { id: freshId(ns, "group"), nodes: members } } },
    ]);
  }, [change]);

  const addNode = useCallback(
    (op: string, position: { x: number; y: number }) => {
      change((ns) => {
        const id = op === "input" && !ns.some((n) => flowId(n) === "question") ? "question" : freshId(ns, op);
        const data: NodeData = op === "input" ? { kind: "input", op, fields: { id, value: "" } } : { kind: "op", op, fields: newFields(specs[op], id) };
        return [...ns.map((n) => ({ ...n, selected: false })), { id: newUid(), type: "flow", position, data, selected: true }];
      });
    },
    [change, specs],
  );

  const onNodesChange = useCallback(
    (changes: NodeChange<FlowNode>[]) => {
      if (changes.some((c) => c.type === "remove")) commit();
      setNodes((ns) => {
        const removed = new Set(changes.filter((c) => c.type === "remove").map((c) => (c as { id: string }).id));
        const gone = new Set(ns.filter((n) => removed.has(n.id)).map(flowId));
        const kept = applyNodeChanges(changes, ns);
        if (!gone.size) return kept;
        return kept.map((n) => (typeof n.data.fields.from === "string" && gone.has(n.data.fields.from) ? withField(n, "from", undefined) : n));
      });
    },
    [commit],
  );

  const onEdgesChange = useCallback(
    (changes: EdgeChange[]) => {
      const removed = changes.filter((c) => c.type === "remove").map((c) => (c as { id: string }).id);
      if (!removed.length) return;
      change((ns) => {
        let next = ns;
        for (const eid of removed) {
          const [pair, handle] = eid.split(":");
          const [src, dst] = pair.split("->");
          const source = next.find((n) => n.id === src);
          if (!source) continue;
          next = next.map((n) => {
            if (n.id !== dst) return n;
            if (handle === "from") return withField(n, "from", undefined);
            const f = templateField(specs[n.data.op]);
            return f ? withField(n, f, String(n.data.fields[f] ?? "").split(`{${flowId(source)}}`).join("")) : n;
          });
        }
        return next;
      });
    },
    [change, specs],
  );

  const valid = useCallback(
    (c: Connection | { source: string; target: string; targetHandle?: string | null }) => {
      const s = nodesRef.current.find((n) => n.id === c.source);
      const t = nodesRef.current.find((n) => n.id === c.target);
      if (!s || !t || s.id === t.id) return false;
      return c.targetHandle === "from" ? portOf(s) === "variants" : c.targetHandle === "tpl";
    },
    [],
  );

  const onConnect = useCallback(
    (c: Connection) => {
      if (!valid(c)) return;
      change((ns) => {
        const s = ns.find((n) => n.id === c.source) as FlowNode;
        return ns.map((n) => {
          if (n.id !== c.target) return n;
          if (c.targetHandle === "from") return withField(n, "from", flowId(s));
          const f = templateField(specs[n.data.op]) as string;
          const text = String(n.data.fields[f] ?? "");
          return refs(text).includes(flowId(s)) ? n : withField(n, f, text + `{${flowId(s)}}`);
        });
      });
    },
    [change, specs, valid],
  );

  const selected = nodes.filter((n) => n.selected);

  const setFields = useCallback(
    (uid: string, fields: Record<string, unknown>) => {
      change((ns) => {
        const old = ns.find((n) => n.id === uid);
        const renamed = old && old.data.fields.id !== fields.id ? [String(old.data.fields.id), String(fields.id)] : null;
        return ns.map((n) => {
          if (n.id === uid) return { ...n, data: { ...n.data, fields } };
          if (!renamed) return n;
          if (n.data.kind === "group" && old?.data.kind !== "group")
            return withField(n, "nodes", ((n.data.fields.nodes as string[]) ?? []).map((x) => (x === renamed[0] ? renamed[1] : x)));
          let m = n;
          if (m.data.fields.from === renamed[0]) m = withField(m, "from", renamed[1]);
          const f = templateField(specs[m.data.op]);
          if (f && typeof m.data.fields[f] === "string") m = withField(m, f, (m.data.fields[f] as string).split(`{${renamed[0]}}`).join(`{${renamed[1]}}`));
          return m;
        });
      });
    },
    [change, specs],
  );

  const copy = useCallback(() => {
    clip.current = nodesRef.current.filter((n) => n.selected && n.data.kind !== "group");
    setNote(clip.current.length ? `copied ${clip.current.length} node(s)` : "");
  }, []);
  const paste = useCallback(() => {
    if (!clip.current.length) return;
    change((ns) => {
      const all = [...ns];
      const renames = new Map<string, string>();
      for (const n of clip.current) renames.set(flowId(n), freshId(all, flowId(n).replace(/_\d+$/, ""), [...renames.values()]));
      const copies = clip.current.map((n) => {
        let m: FlowNode = { ...n, id: newUid(), selected: true, position: { x: n.position.x + 40, y: n.position.y + 40 }, data: { ...n.data, fields: { ...n.data.fields, id: renames.get(flowId(n)) } } };
        if (typeof m.data.fields.from === "string" && renames.has(m.data.fields.from)) m = withField(m, "from", renames.get(m.data.fields.from));
        return m;
      });
      return [...all.map((n) => ({ ...n, selected: false })), ...copies];
    });
  }, [change]);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const el = document.activeElement as HTMLElement | null;
      if (el && (el.tagName === "INPUT" || el.tagName === "TEXTAREA" || el.tagName === "SELECT")) return;
      if (!(e.ctrlKey || e.metaKey)) return;
      const k = e.key.toLowerCase();
      if (k === "z" && !e.shiftKey) undo();
      else if (k === "y" || (k === "z" && e.shiftKey)) redo();
      else if (k === "c") copy();
      else if (k === "v") paste();
      else return;
      e.preventDefault();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [undo, redo, copy, paste]);

  const save = () => {
    const text = yaml.dump(doc, { lineWidth: 120, noRefs: true });
    download(`${doc.name}.yaml`, text, "application/yaml");
    setNote(`saved ${doc.name}.yaml`);
  };
  const open = async () => {
    const file = await pickFile(".yaml,.yml,.json");
    if (!file) return;
    try {
      const parsed = file.name.endsWith(".json") ? JSON.parse(file.text) : yaml.load(file.text);
      const loaded = fromFlow(parsed);
      commit();
      setName(loaded.name);
      setNodes(loaded.nodes);
      setNote(`loaded ${file.name}`);
      setTimeout(() => void rf.fitView(), 50);
    } catch (e) {
      setProblem(`${file.name}: ${(e as Error).message}`);
    }
  };
  const loadServed = async (flowName: string) => {
    const r = await getJson<{ flows: { name: string; graph: unknown }[] }>("/islands/flows");
    const f = r.flows.find((x) => x.name === flowName);
    if (!f) return;
    const loaded = fromFlow(f.graph);
    commit();
    setName(loaded.name);
    setNodes(loaded.nodes);
    setTimeout(() => void rf.fitView(), 50);
  };

  const ranDoc = useRef("");
  const docText = JSON.stringify(doc);
  const results = useMemo(() => (ranDoc.current === docText ? resultsOf(state) : {}), [state, docText]); // the last run's, while the flow is unchanged
  const sources = nodes.filter((n) => n.data.kind === "op" && portOf(n) === "variants").map(flowId);
  const one = selected.length === 1 ? selected[0] : null;

  return (
    <EditorCtx.Provider value={{ specs, errors, results }}>
      <div className="page editor">
        <div className="toolbar">
          <label>
            flow name <input value={name} onChange={(e) => setName(e.target.value)} data-testid="flow-name" />
          </label>
          <button onClick={open} data-testid="load">
            Load…
          </button>
          <ServedPicker onPick={loadServed} />
          <button onClick={save} data-testid="save">
            Save
          </button>
          <button onClick={group} disabled={selected.filter((n) => n.data.kind !== "group").length < 2} data-testid="group" title="Group the selected nodes">
            Group
          </button>
          <button onClick={undo} disabled={!undoStack.current.past.length} data-testid="undo" title="Ctrl+Z">
            Undo
          </button>
          <button onClick={redo} disabled={!undoStack.current.future.length} title="Ctrl+Y">
            Redo
          </button>
          <button
            onClick={() => {
              change((ns) => arrange(ns));
              setTimeout(() => void rf.fitView({ maxZoom: 1.2 }), 120);
            }}
            data-testid="arrange"
          >
            Arrange
          </button>
          {running ? (
            <button onClick={stop}>Stop</button>
          ) : (
            <button
              onClick={() => {
                ranDoc.current = JSON.stringify(doc);
                void run(doc);
                setTimeout(() => void rf.fitView({ maxZoom: 1.2 }), 200); // the run panel takes part of the canvas
              }}
              disabled={!nodes.length || Boolean(problem)}
              data-testid="run-flow"
            >
              Run
            </button>
          )}
          <span className={problem ? "error" : "ok"} data-testid="validation">
            {problem || (nodes.length ? "valid" : "empty: drag an op from the palette")}
          </span>
          {note && <span className="hint">{note}</span>}
        </div>
        <div className="editor-body">
          <aside className="palette" aria-label="palette">
            <h4>ops</h4>
            {[{ op: "input", description: "A flow input with a default value." } as OpSpec, ...ops].map((o) => (
              <button
                key={o.op}
                className="palette-item"
                draggable
                title={o.description}
                data-testid={`palette-${o.op}`}
                onDragStart={(e) => {
                  e.dataTransfer.setData("application/islands-op", o.op);
                  e.dataTransfer.effectAllowed = "move";
                }}
                onClick={() => addNode(o.op, rf.screenToFlowPosition({ x: window.innerWidth / 2, y: window.innerHeight / 3 }))}
              >
                {o.op}
              </button>
            ))}
          </aside>
          <div
            className="canvas"
            data-testid="editor-canvas"
            onDragOver={(e) => {
              e.preventDefault();
              e.dataTransfer.dropEffect = "move";
            }}
            onDrop={(e) => {
              e.preventDefault();
              const op = e.dataTransfer.getData("application/islands-op");
              if (op) addNode(op, rf.screenToFlowPosition({ x: e.clientX, y: e.clientY }));
            }}
          >
            <ReactFlow
              nodes={drawn}
              edges={edges}
              nodeTypes={nodeTypes}
              onNodesChange={onNodesChange}
              onEdgesChange={onEdgesChange}
              onConnect={onConnect}
              isValidConnection={valid}
              onNodeDragStart={commit}
              deleteKeyCode={["Backspace", "Delete"]}
              elevateNodesOnSelect={false}
              proOptions={{ hideAttribution: true }}
              defaultViewport={{ x: 40, y: 40, zoom: 1 }}
              fitView={nodes.length > 0}
              fitViewOptions={{ maxZoom: 1.2 }}
            >
              <Background />
              <Controls />
            </ReactFlow>
          </div>
          <aside className="side">
            {one ? (
              <NodeForm schema={schema} spec={specs[one.data.op]} node={one} sources={sources.filter((s) => s !== flowId(one))} onChange={(f) => setFields(one.id, f)} />
            ) : (
              <p className="hint">Select a node to edit its parameters. {selected.length > 1 ? `${selected.length} selected (Ctrl+C copies).` : ""}</p>
            )}
            <details>
              <summary>YAML</summary>
              <pre data-testid="yaml">{yaml.dump(doc, { lineWidth: 120 })}</pre>
            </details>
          </aside>
        </div>
        {(running || state.order.length > 0) && (
          <div className="run-panel" data-testid="run-panel">
            <TreeView state={state} />
          </div>
        )}
      </div>
    </EditorCtx.Provider>
  );
}

function withField(n: FlowNode, k: string, v: unknown): FlowNode {
  const fields = { ...n.data.fields };
  if (v === undefined) delete fields[k];
  else fields[k] = v;
  return { ...n, data: { ...n.data, fields } };
}

function ServedPicker({ onPick }: { onPick: (name: string) => void }) {
  const [names, setNames] = useState<string[]>([]);
  useEffect(() => {
    getJson<{ flows: { name: string }[] }>("/islands/flows").then((r) => setNames(r.flows.map((f) => f.name)), () => setNames([]));
  }, []);
  if (!names.length) return null;
  return (
    <select value="" onChange={(e) => e.target.value && onPick(e.target.value)} aria-label="open a served flow">
      <option value="">open a served flow…</option>
      {names.map((n) => (
        <option key={n}>{n}</option>
      ))}
    </select>
  );
}

export default function Editor() {
  return (
    <ReactFlowProvider>
      <Inner />
    </ReactFlowProvider>
  );
}
