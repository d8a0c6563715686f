// The selected node's parameters, as a form generated from the op's JSON Schema.
import { useEffect, useState } from "react";
import type { FlowNode } from "./graph";
import { TEMPLATE_FIELDS, resolve, type OpSpec, type Prop } from "./schema";

type Props = { schema: any; spec: OpSpec | undefined; node: FlowNode; sources: string[]; onChange: (fields: Record<string, unknown>) => void };

function base(p: Prop): { p: Prop; optional: boolean } {
  if (p.anyOf) {
    const real = p.anyOf.filter((x) => x.type !== "null");
    return { p: { ...real[0], default: p.default, description: p.description, title: p.title }, optional: real.length < p.anyOf.length };
  }
  return { p, optional: false };
}

export default function NodeForm({ schema, spec, node, sources, onChange }: Props) {
  const fields = node.data.fields;
  const set = (k: string, v: unknown) => onChange({ ...fields, [k]: v });
  if (node.data.kind === "input")
    return (
      <form className="nodeform" onSubmit={(e) => e.preventDefault()}>
        <h4>input</h4>
        <Text name="id" label="name" value={fields.id} onChange={(v) => set("id", v)} />
        <Text name="value" label="default value" value={fields.value} onChange={(v) => set("value", v)} multiline />
      </form>
    );
  if (node.data.kind === "group")
    return (
      <form className="nodeform" onSubmit={(e) => e.preventDefault()}>
        <h4>
          group <small>Nodes shown together; a group does not change a run. Delete removes the group, not its nodes.</small>
        </h4>
        <Text name="id" label="name" value={fields.id} onChange={(v) => set("id", v)} />
        <p className="hint">{((fields.nodes as string[]) ?? []).join(", ")}</p>
      </form>
    );
  if (!spec) return <p className="error">unknown op {node.data.op}</p>;
  return (
    <form className="nodeform" onSubmit={(e) => e.preventDefault()}>
      <h4>
        {node.data.op} <small>{spec.description}</small>
      </h4>
      {Object.entries(spec.props)
        .filter(([k]) => k !== "op")
        .sort(([a], [b]) => rank(spec, a) - rank(spec, b))
        .map(([k, raw]) => {
          const { p } = base(resolve(schema, raw));
          const required = spec.required.includes(k);
          const label = `${k}${required ? " *" : ""}`;
          const hint = p.default !== undefined ? `default ${JSON.stringify(p.default)}` : required ? "required" : "optional";
          if (k === "from")
            return (
              <label key={k} className="field">
                {label}
                <select value={String(fields.from ?? "")} onChange={(e) => set("from", e.target.value || undefined)} data-testid="field-from">
                  <option value="">(choose a node with variants)</option>
                  {sources.map((s) => (
                    <option key={s}>{s}</option>
                  ))}
                </select>
              </label>
            );
          if (p.enum)
            return (
              <label key={k} className="field">
                {label}
                <select value={String(fields[k] ?? "")} onChange={(e) => set(k, e.target.value || undefined)} data-testid={`field-${k}`}>
                  <option value="">({hint})</option>
                  {p.enum.map((o) => (
                    <option key={o}>{o}</option>
                  ))}
                </select>
              </label>
            );
          if (p.type === "integer" || p.type === "number")
            return (
              <label key={k} className="field">
                {label}
                <input
                  type="number"
                  step={p.type === "integer" ? 1 : "any"}
                  min={p.minimum}
                  max={p.maximum}
                  placeholder={hint}
                  value={fields[k] === undefined ? "" : String(fields[k])}
                  data-testid={`field-${k}`}
                  onChange={(e) => set(k, e.target.value === "" ? undefined : Number(e.target.value))}
                />
              </label>
            );
          if (p.type === "boolean")
            return (
              <label key={k} className="field check">
                <input type="checkbox" checked={Boolean(fields[k] ?? p.default)} onChange={(e) => set(k, e.target.checked)} data-testid={`field-${k}`} />
                {label}
              </label>
            );
          if (p.type === "string")
            return (
              <Text key={k} name={k} label={label} value={fields[k]} placeholder={p.description ?? hint} multiline={TEMPLATE_FIELDS.includes(k)}
                onChange={(v) => set(k, v)} />
            );
          return <Json key={k} name={k} label={label} value={fields[k]} placeholder={hint} onChange={(v) => set(k, v)} />;
        })}
    </form>
  );
}

/** id first, then the required fields, then the rest in the schema's order. */
const rank = (spec: OpSpec, k: string) => (k === "id" ? 0 : spec.required.includes(k) ? 1 : 2);

function Text(props: { name: string; label: string; value: unknown; placeholder?: string; multiline?: boolean; onChange: (v: string) => void }) {
  const { name, label, value, placeholder, multiline, onChange } = props;
  return (
    <label className="field">
      {label}
      {multiline ? (
        <textarea rows={3} value={String(value ?? "")} placeholder={placeholder} onChange={(e) => onChange(e.target.value)} data-testid={`field-${name}`} />
      ) : (
        <input value={String(value ?? "")} placeholder={placeholder} onChange={(e) => onChange(e.target.value)} data-testid={`field-${name}`} />
      )}
    </label>
  );
}

/** Lists and objects as JSON (stop: ["\n"], temperatures: {"schedule": "linear"}). */
function Json(props: { name: string; label: string; value: unknown; placeholder: string; onChange: (v: unknown) => void }) {
  const { name, label, value, placeholder, onChange } = props;
  const [text, setText] = useState(value === undefined ? "" : JSON.stringify(value));
  const [bad, setBad] = useState("");
  useEffect(() => setText(value === undefined ? "" : JSON.stringify(value)), [value]);
  return (
    <label className="field">
      {label} <small>JSON</small>
      <input
        value={text}
        placeholder={placeholder}
        data-testid={`field-${name}`}
        onChange={(e) => setText(e.target.value)}
        onBlur={() => {
          if (!text.trim()) return onChange(undefined);
          try {
            onChange(JSON.parse(text));
            setBad("");
          } catch (e) {
            setBad((e as Error).message);
          }
        }}
      />
      {bad && <span className="error">{bad}</span>}
    </label>
  );
}
