// The editor's nodes <-> a flow document (what `islands flow run` reads). Edges are never
// stored: they are the `from` fields and {name} references, so what is drawn is what runs.
import type { Edge, Node } from "@xyflow/react";
import { outputType, refs, TEMPLATE_FIELDS, type OpSpec } from "./schema";

export type NodeData = {
  kind: "input" | "op" | "group";
  op: string; // "input" for an input, "group" for a group
  fields: Record<string, unknown>; // an op's fields as written in a flow (`id`, `from`, ...); an input: {id, value}; a group: {id: name, nodes}
  error?: string;
};
export type FlowNode = Node<NodeData>;

export type FlowDoc = {
  name: string;
  description?: string;
  inputs?: Record<string, string>;
  nodes: Record<string, unknown>[];
  groups?: { name: string; nodes: string[] }[];
};

export const flowId = (n: FlowNode) => String(n.data.fields.id ?? "");

let uid = 0;
export const newUid = () => `n${Date.now().toString(36)}_${(uid += 1)}`;

/** A flow document from the editor's nodes: inputs, then ops (outputs last, as the CLI takes the last output). */
export function toFlow(name: string, description: string, nodes: FlowNode[]): FlowDoc {
  const inputs: Record<string, string> = {};
  const ops: Record<string, unknown>[] = [];
  const ordered = [...nodes].sort((a, b) => Number(a.data.op === "output") - Number(b.data.op === "output") || a.position.x - b.position.x);
  const groups: { name: string; nodes: string[] }[] = [];
  const ids = new Set(nodes.filter((n) => n.data.kind !== "group").map(flowId));
  for (const n of ordered) {
    if (n.data.kind === "group") {
      const members = ((n.data.fields.nodes as string[] | undefined) ?? []).filter((m) => ids.has(m));
      if (members.length) groups.push({ name: flowId(n), nodes: members });
    } else if (n.data.kind === "input") inputs[flowId(n)] = String(n.data.fields.value ?? "");
    else {
      const node: Record<string, unknown> = { id: n.data.fields.id, op: n.data.op };
      for (const [k, v] of Object.entries(n.data.fields)) if (k !== "id" && v !== undefined && v !== "") node[k] = v;
      ops.push(node);
    }
  }
  const doc: FlowDoc = { name: name || "flow", nodes: [] };
  if (description) doc.description = description;
  if (Object.keys(inputs).length) doc.inputs = inputs;
  doc.nodes = ops; // after inputs, so a saved file reads name, inputs, nodes, groups
  if (groups.length) doc.groups = groups;
  return doc;
}

/** The editor's nodes for a flow document, laid out left to right by dependency depth. */
export function fromFlow(doc: any): { name: string; description: string; nodes: FlowNode[] } {
  if (!doc || typeof doc !== "object" || !Array.isArray(doc.nodes)) throw new Error("a flow has name, inputs and nodes");
  const inputs: Record<string, unknown> = doc.inputs ?? {};
  const nodes: FlowNode[] = [];
  for (const [k, v] of Object.entries(inputs))
    nodes.push({ id: newUid(), type: "flow", position: { x: 0, y: 0 }, data: { kind: "input", op: "input", fields: { id: k, value: String(v ?? "") } } });
  for (const raw of doc.nodes) {
    if (!raw || typeof raw !== "object") throw new Error("each node is a mapping with id and op");
    const { op, ...fields } = raw as Record<string, unknown>;
    nodes.push({ id: newUid(), type: "flow", position: { x: 0, y: 0 }, data: { kind: "op", op: String(op), fields } });
  }
  for (const g of Array.isArray(doc.groups) ? doc.groups : [])
    nodes.push({ id: newUid(), type: "group", position: { x: 0, y: 0 }, data: { kind: "group", op: "group", fields: { id: String(g.name), nodes: [...(g.nodes ?? [])] } } });
  return { name: String(doc.name ?? "flow"), description: String(doc.description ?? ""), nodes: arrange(nodes) };
}

function depsOf(n: FlowNode): string[] {
  const out: string[] = [];
  if (typeof n.data.fields.from === "string") out.push(n.data.fields.from);
  for (const f of TEMPLATE_FIELDS) for (const r of refs(n.data.fields[f])) if (!out.includes(r)) out.push(r);
  return out;
}

export function arrange(nodes: FlowNode[]): FlowNode[] {
  const byId = new Map(nodes.filter((n) => n.data.kind !== "group").map((n) => [flowId(n), n]));
  const depth = new Map<string, number>();
  const seen = new Set<string>();
  const d = (n: FlowNode): number => {
    const id = flowId(n);
    if (depth.has(id)) return depth.get(id) as number;
    if (seen.has(id)) return 0; // a cycle: validation reports it
    seen.add(id);
    const ds = depsOf(n).map((r) => byId.get(r)).filter(Boolean) as FlowNode[];
    const v = ds.length ? Math.max(...ds.map(d)) + 1 : 0;
    depth.set(id, v);
    return v;
  };
  const rows = new Map<number, number>();
  return nodes.map((n) => {
    if (n.data.kind === "group") return n;
    const col = d(n);
    const row = rows.get(col) ?? 0;
    rows.set(col, row + 1);
    return { ...n, position: { x: col * 280, y: row * 170 } };
  });
}

/** The edges the nodes' fields imply: `from` (variants) and template references (text). */
export function edgesOf(nodes: FlowNode[]): Edge[] {
  const byId = new Map(nodes.filter((n) => n.data.kind !== "group").map((n) => [flowId(n), n]));
  const edges: Edge[] = [];
  for (const n of nodes) {
    if (n.data.kind !== "op") continue;
    const from = n.data.fields.from;
    if (typeof from === "string" && byId.has(from))
      edges.push({ id: `${byId.get(from)!.id}->${n.id}:from`, source: byId.get(from)!.id, target: n.id, targetHandle: "from", className: "variants" });
    for (const f of TEMPLATE_FIELDS)
      for (const r of refs(n.data.fields[f])) {
        const src = byId.get(r);
        if (src && !edges.some((e) => e.id === `${src.id}->${n.id}:tpl`))
          edges.push({ id: `${src.id}->${n.id}:tpl`, source: src.id, target: n.id, targetHandle: "tpl", className: "text" });
      }
  }
  return edges;
}

export const portOf = (n: FlowNode) => (n.data.kind === "input" ? "text" : outputType(n.data.op));

/** The editor's nodes as drawn: each group a frame around its members, behind them. */
export function withFrames(nodes: FlowNode[]): FlowNode[] {
  const byId = new Map(nodes.filter((n) => n.data.kind !== "group").map((n) => [flowId(n), n]));
  const frames: FlowNode[] = [];
  for (const g of nodes.filter((n) => n.data.kind === "group")) {
    const members = ((g.data.fields.nodes as string[] | undefined) ?? []).map((m) => byId.get(m)).filter(Boolean) as FlowNode[];
    if (!members.length) continue;
    const pad = 24;
    const x0 = Math.min(...members.map((m) => m.position.x)) - pad;
    const y0 = Math.min(...members.map((m) => m.position.y)) - pad - 14;
    const x1 = Math.max(...members.map((m) => m.position.x + (m.measured?.width ?? 200))) + pad;
    const y1 = Math.max(...members.map((m) => m.position.y + (m.measured?.height ?? 80))) + pad;
    frames.push({ ...g, type: "group", position: { x: x0, y: y0 }, style: { width: x1 - x0, height: y1 - y0 }, draggable: false, zIndex: -1 });
  }
  return [...frames, ...nodes.filter((n) => n.data.kind !== "group")];
}

/** A fresh id for a node of `op`: generate_1, generate_2, ... */
export function freshId(nodes: FlowNode[], base: string, also: string[] = []): string {
  const taken = new Set([...nodes.map(flowId), ...also]);
  for (let i = 1; ; i++) if (!taken.has(`${base}_${i}`)) return `${base}_${i}`;
}

/** A new node's fields: its id and the required fields, empty. */
export function newFields(spec: OpSpec | undefined, id: string): Record<string, unknown> {
  const fields: Record<string, unknown> = { id };
  for (const r of spec?.required ?? []) if (r !== "id" && r !== "op") fields[r] = "";
  return fields;
}
