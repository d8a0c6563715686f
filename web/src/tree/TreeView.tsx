// A flow run drawn as it grows: the inputs at the top, each node that makes variants under
// them, its variants below with temperature and score; pruned variants fade, the winner
// path is drawn bold. Click a node to read its whole text.
import { Background, Controls, Handle, Position, ReactFlow, ReactFlowProvider, useReactFlow, type Edge, type Node, type NodeProps } from "@xyflow/react";
import { useEffect, useMemo, useState } from "react";
import { toHtml } from "../chat/render";
import { fmt, layout, type TreeNode, type TreeState } from "./model";

type Data = { t: TreeNode; winner: boolean };

function TreeBox({ data }: NodeProps<Node<Data>>) {
  const { t, winner } = data;
  return (
    <div className={`tnode ${t.kind}${t.pruned ? " pruned" : ""}${winner ? " winner" : ""}${t.running ? " running" : ""}`} data-testid="tree-node" data-id={t.id} data-winner={winner ? "1" : "0"}>
      <Handle type="target" position={Position.Top} />
      <div className="tlabel">
        {t.kind === "step" || t.kind === "root" ? <b>{t.label}</b> : t.label}
      </div>
      <div className="tmeta">
        {t.op && <span>{t.op}</span>}
        {t.temperature != null && <span>t={fmt(t.temperature)}</span>}
        {t.kind === "variant" && <span data-testid="score">score {fmt(t.score)}</span>}
        {t.answer && <span>answer {t.answer}</span>}
        {t.pruned && <span>pruned</span>}
        {t.running && <span>running…</span>}
      </div>
      <Handle type="source" position={Position.Bottom} />
    </div>
  );
}

const nodeTypes = { tree: TreeBox };

/** Keeps the whole tree in view as it grows. */
function FitOnGrow({ count }: { count: number }) {
  const flow = useReactFlow();
  useEffect(() => {
    const t = setTimeout(() => void flow.fitView({ duration: 150, maxZoom: 1.2 }), 30);
    return () => clearTimeout(t);
  }, [count, flow]);
  return null;
}

export default function TreeView({ state }: { state: TreeState }) {
  const [picked, setPicked] = useState<string | null>(null);
  const { nodes, edges } = useMemo(() => {
    const at = layout(state);
    const win = new Set(state.winner);
    const nodes: Node<Data>[] = state.order.map((id) => ({
      id,
      type: "tree",
      position: at[id] ?? { x: 0, y: 0 },
      data: { t: state.nodes[id], winner: win.has(id) },
      draggable: false,
      connectable: false,
    }));
    const edges: Edge[] = state.order
      .filter((id) => state.nodes[id].parent)
      .map((id) => {
        const p = state.nodes[id].parent as string;
        const onPath = win.has(id) && win.has(p);
        return { id: `${p}->${id}`, source: p, target: id, className: onPath ? "winner" : state.nodes[id].pruned ? "pruned" : "", animated: onPath };
      });
    return { nodes, edges };
  }, [state]);
  const chosen = picked ? state.nodes[picked] : null;
  return (
    <div className="treeview">
      <div className="canvas" data-testid="tree-canvas">
        <ReactFlowProvider>
        <ReactFlow nodes={nodes} edges={edges} nodeTypes={nodeTypes} onNodeClick={(_, n) => setPicked(n.id)} fitView minZoom={0.2} proOptions={{ hideAttribution: true }}
          nodesConnectable={false}>
          <FitOnGrow count={state.order.length + (state.output === null ? 0 : 1000)} />
          <Background />
          <Controls showInteractive={false} />
        </ReactFlow>
        </ReactFlowProvider>
      </div>
      <aside className="side">
        <div className="status" data-testid="tree-status">
          {state.error ? (
            <span className="error">{state.error}</span>
          ) : state.output !== null ? (
            <>
              <b>winner</b> in {state.seconds} s: <span data-testid="tree-output">{state.output}</span>
            </>
          ) : state.current ? (
            <>running {state.current}…</>
          ) : (
            <>no run yet</>
          )}
        </div>
        {chosen && (
          <div className="picked" data-testid="tree-picked">
            <h4>
              {chosen.id} <small>{chosen.kind}</small>
            </h4>
            {chosen.spans ? (
              <>
                <pre data-testid="picked-text" dangerouslySetInnerHTML={{ __html: toHtml(chosen.text, chosen.spans, false) }} />
                <div className="cards">
                  {chosen.spans
                    .filter((s) => s.kind !== "sea" && s.tool)
                    .map((s, i) => (
                      <div key={i} className={`card ${s.kind}${s.error ? " failed" : ""}`} data-testid="island-card">
                        <b>{s.tool}</b> <code>({s.args})</code> → <code>{s.result}</code>
                      </div>
                    ))}
                </div>
              </>
            ) : (
              <pre data-testid="picked-text">{chosen.text || "(empty)"}</pre>
            )}
            <p>
              {chosen.temperature != null && <>temperature {fmt(chosen.temperature)} · </>}
              {chosen.seed != null && <>seed {chosen.seed} · </>}
              {chosen.kind === "variant" && <>score {fmt(chosen.score)}</>}
              {chosen.pruned && <> · pruned</>}
            </p>
          </div>
        )}
        <ol className="log">
          {state.log.map((line, i) => (
            <li key={i}>{line}</li>
          ))}
        </ol>
      </aside>
    </div>
  );
}
