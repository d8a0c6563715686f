// What the editor knows about the flow format, read from its JSON Schema (GET /islands/flows/schema,
// the same `flow.schema.json` the CLI validates against): the ops, their fields and defaults.

export type Prop = {
  type?: string;
  anyOf?: Prop[];
  enum?: string[];
  const?: string;
  default?: unknown;
  description?: string;
  title?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  pattern?: string;
  items?: Prop;
  $ref?: string;
};

export type OpSpec = { op: string; description: string; props: Record<string, Prop>; required: string[] };

export type PortType = "variants" | "text";

/** Ops whose value is text; every other op's value is a list of variants. */
const TEXT_OPS = new Set(["synthesize", "ask", "plan_ahead", "output"]);
/** Fields whose {name} references are edges (as `Op.templates` says in islands.flows.graph). */
export const TEMPLATE_FIELDS = ["prompt", "question", "theme"];

export function opsOf(schema: any): OpSpec[] {
  const defs: Record<string, any> = schema?.$defs ?? {};
  const out: OpSpec[] = [];
  for (const def of Object.values(defs)) {
    const op = def?.properties?.op?.const;
    if (typeof op !== "string") continue;
    out.push({ op, description: def.description ?? "", props: def.properties, required: def.required ?? [] });
  }
  return out.sort((a, b) => a.op.localeCompare(b.op));
}

export function resolve(schema: any, p: Prop): Prop {
  if (p.$ref) return schema.$defs[p.$ref.split("/").pop() as string] ?? p;
  return p;
}

export const outputType = (op: string): PortType => (TEXT_OPS.has(op) ? "text" : "variants");
export const takesFrom = (spec: OpSpec | undefined) => Boolean(spec && "from" in spec.props);
export const templateField = (spec: OpSpec | undefined) => TEMPLATE_FIELDS.find((f) => spec && f in spec.props);

/** {name} references in a template: "Q: {question} {drafts}" -> ["question", "drafts"]. */
export function refs(template: unknown): string[] {
  if (typeof template !== "string") return [];
  const out: string[] = [];
  for (const m of template.replace(/\{\{|\}\}/g, "").matchAll(/\{([^{}:!]+)(?:[:!][^{}]*)?\}/g)) if (!out.includes(m[1])) out.push(m[1]);
  return out;
}
