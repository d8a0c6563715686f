// A flow run's events (islands.flows.events) folded into a tree of variants, laid out top-down.
import type { Span } from "../chat/conversation";

export type FlowEvent = { event: string; [k: string]: any };

export type TreeNode = {
  id: string;
  parent: string | null;
  kind: "root" | "step" | "variant" | "value";
  label: string;
  op?: string;
  text: string;
  score?: number | null;
  temperature?: number;
  seed?: number;
  answer?: string;
  pruned?: boolean;
  spans?: Span[]; // an `ask` candidate's sea and hard islands
  running?: boolean; // a node whose variants are still being made
};

/** Ops that make variants (or candidates): drawn as soon as they start, filled in when they end. */
const MAKERS = new Set(["generate", "fanout", "explore", "anneal", "ask"]);

export type TreeState = {
  flow: string;
  nodes: Record<string, TreeNode>;
  order: string[];
  winner: string[];
  output: string | null;
  seconds: number | null;
  current: string | null; // the flow node running now
  ops: Record<string, string>; // flow node -> its op
  error: string | null;
  log: string[];
};

export const emptyTree = (): TreeState => ({
  flow: "",
  nodes: {},
  order: [],
  winner: [],
  output: null,
  seconds: null,
  current: null,
  ops: {},
  error: null,
  log: [],
});

const short = (s: string, n = 60) => (s.length > n ? s.slice(0, n - 1) + "…" : s);

function put(s: TreeState, n: TreeNode): TreeState {
  const known = n.id in s.nodes;
  return { ...s, nodes: { ...s.nodes, [n.id]: { ...s.nodes[n.id], ...n } }, order: known ? s.order : [...s.order, n.id] };
}

function patch(s: TreeState, id: string, change: Partial<TreeNode>): TreeState {
  const n = s.nodes[id];
  return n ? { ...s, nodes: { ...s.nodes, [id]: { ...n, ...change } } } : s;
}

export function reduce(s: TreeState, e: FlowEvent): TreeState {
  const log = [...s.log, describe(e)];
  s = { ...s, log };
  switch (e.event) {
    case "started": {
      const inputs = Object.entries(e.inputs ?? {}).map(([k, v]) => `${k}: ${v}`).join("\n");
      const ops = Object.fromEntries((e.nodes ?? []).map((n: any) => [n.id, n.op]));
      return put({ ...emptyTree(), log, flow: e.flow, ops }, { id: "root", parent: null, kind: "root", label: e.flow, text: inputs });
    }
    case "node": {
      const next = { ...s, current: e.id };
      if (!MAKERS.has(e.op) || s.nodes[e.id]) return next;
      return put(next, { id: e.id, parent: s.nodes[e.parent] ? e.parent : "root", kind: "step", label: e.id, op: e.op, text: "", running: true });
    }
    case "variant": {
      if (!s.nodes[e.node]) s = put(s, { id: e.node, parent: "root", kind: "step", label: e.node, op: s.ops[e.node], text: "" });
      else if (s.nodes[e.node].running) s = patch(s, e.node, { running: false });
      return put(s, {
        id: e.id,
        parent: e.node,
        kind: "variant",
        label: short(e.text.trim() || "(empty)"),
        text: e.text,
        score: e.score,
        temperature: e.temperature,
        seed: e.seed,
        ...(e.answer != null ? { answer: String(e.answer) } : {}),
        ...(e.spans?.length ? { spans: e.spans } : {}),
      });
    }
    case "scored":
      return patch(s, e.id, { score: e.score, ...(e.answer != null ? { answer: String(e.answer) } : {}) });
    case "pruned":
      return patch(s, e.id, { pruned: true });
    case "value":
      if (s.nodes[e.parent]?.running) s = patch(s, e.parent, { running: false });
      return put(s, { id: e.id, parent: s.nodes[e.parent] ? e.parent : "root", kind: "value", op: s.ops[e.id], label: short(e.text.trim() || "(empty)"), text: e.text });
    case "finished":
      for (const id of s.order) if (s.nodes[id].running) s = patch(s, id, { running: false });
      return { ...s, winner: e.winner ?? [], output: e.output, seconds: e.seconds, current: null };
    case "error":
      return { ...s, error: e.message, current: null };
    default:
      return s;
  }
}

function describe(e: FlowEvent): string {
  switch (e.event) {
    case "started":
      return `started ${e.flow}`;
    case "node":
      return `node ${e.id} (${e.op})`;
    case "variant":
      return `variant ${e.id} t=${fmt(e.temperature)}`;
    case "scored":
      return `scored ${e.id} = ${fmt(e.score)} by ${e.by}`;
    case "pruned":
      return `pruned ${e.id} by ${e.by}`;
    case "value":
      return `value ${e.id}`;
    case "finished":
      return `finished in ${e.seconds} s: ${short(String(e.output), 80)}`;
    case "error":
      return `error: ${e.message}`;
    default:
      return e.event;
  }
}

export const fmt = (x: number | null | undefined) => (x == null ? "·" : Math.abs(x) >= 100 ? x.toFixed(0) : x.toFixed(2));

/** Positions: leaves side by side in visiting order, a parent centred over its children. */
export function layout(s: TreeState, w = 210, h = 120): Record<string, { x: number; y: number }> {
  const kids: Record<string, string[]> = {};
  for (const id of s.order) {
    const p = s.nodes[id].parent;
    if (p) (kids[p] ??= []).push(id);
  }
  const at: Record<string, { x: number; y: number }> = {};
  let leaf = 0;
  const visit = (id: string, depth: number): number => {
    const children = kids[id] ?? [];
    let x: number;
    if (!children.length) x = leaf++ * w;
    else {
      const xs = children.map((c) => visit(c, depth + 1));
      x = (xs[0] + xs[xs.length - 1]) / 2;
    }
    at[id] = { x, y: depth * h };
    return x;
  };
  for (const id of s.order) if (!s.nodes[id].parent) visit(id, 0);
  return at;
}

/** What each flow node ended with in a run: its text, or its best kept variant and how many it made. */
export function resultsOf(s: TreeState): Record<string, string> {
  const out: Record<string, string> = {};
  const kids: Record<string, TreeNode[]> = {};
  for (const id of s.order) {
    const n = s.nodes[id];
    if (n.kind === "variant" && n.parent) (kids[n.parent] ??= []).push(n);
    if (n.kind === "value") out[id.replace(/\/answer$/, "")] = n.text.trim();
  }
  for (const [node, vs] of Object.entries(kids)) {
    if (out[node] !== undefined) continue;
    const kept = vs.filter((v) => !v.pruned);
    const best = [...(kept.length ? kept : vs)].sort((a, b) => (b.score ?? -Infinity) - (a.score ?? -Infinity))[0];
    out[node] = vs.length > 1 ? `${vs.length} variants; best: ${best.text.trim()}` : best.text.trim();
  }
  return out;
}
