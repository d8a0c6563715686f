// Memory browser: search the server's memory (islands serve --memory FILE), read a memory with
// its raw episode and what sleep merged into it, and the values with their marginal worth.
import { useCallback, useEffect, useState } from "react";
import { getJson } from "../api";

type Mem = {
  id: number;
  text: string;
  summary: string;
  kind: string;
  importance: number;
  surprise: number;
  created: number;
  valid_to: number | null;
  replaced_by: number | null;
  access_count: number;
  model: string;
  score: number;
  found_by: Record<string, string>;
};
type Detail = { memory: Mem; episodes: { id: number; text: string | null }[]; merged: Mem[]; replaced_by: Mem | null };
type Value = { name: string; weight: number; curve: string; rate: number; level: number; marginal: number };

const when = (t: number) => new Date(t * 1000).toLocaleString();

export default function MemoryPage() {
  const [q, setQ] = useState("");
  const [found, setFound] = useState<Mem[]>([]);
  const [stats, setStats] = useState<Record<string, number>>({});
  const [detail, setDetail] = useState<Detail | null>(null);
  const [values, setValues] = useState<Value[]>([]);
  const [error, setError] = useState("");

  const search = useCallback(async (query: string) => {
    try {
      const r = await getJson<{ memories: Mem[]; stats: Record<string, number> }>(`/islands/memory?k=50&q=${encodeURIComponent(query)}`);
      setFound(r.memories);
      setStats(r.stats);
      setError("");
    } catch (e) {
      setError((e as Error).message);
    }
  }, []);

  useEffect(() => {
    void search("");
    getJson<{ values: Value[] }>("/islands/values").then((r) => setValues(r.values), () => setValues([]));
  }, [search]);

  const open = async (id: number) => {
    try {
      setDetail(await getJson<Detail>(`/islands/memory/${id}`));
    } catch (e) {
      setError((e as Error).message);
    }
  };

  return (
    <div className="page memory-page">
      <form
        className="toolbar"
        onSubmit={(e) => {
          e.preventDefault();
          void search(q);
        }}
      >
        <input value={q} onChange={(e) => setQ(e.target.value)} placeholder="search memories" aria-label="search memories" size={50} data-testid="memory-q" />
        <button type="submit">Search</button>
        <span className="hint">{Object.entries(stats).map(([k, v]) => `${k} ${v}`).join(" · ")}</span>
      </form>
      {error && (
        <div className="error" data-testid="memory-error">
          {error}
        </div>
      )}
      <div className="memory-body">
        <ul className="memlist" data-testid="memory-list">
          {found.map((m) => (
            <li key={m.id} className={m.valid_to ? "invalid" : ""}>
              <button onClick={() => void open(m.id)}>
                <b>#{m.id}</b> {m.summary || m.text}
                <small>
                  {m.kind || "memory"} · importance {m.importance.toFixed(2)} · surprise {m.surprise.toFixed(2)}
                  {m.score ? ` · score ${m.score.toFixed(3)}` : ""}
                  {m.valid_to ? " · replaced" : ""}
                </small>
              </button>
            </li>
          ))}
          {!found.length && !error && <li className="hint">no memories</li>}
        </ul>
        <div className="memdetail">
          {detail ? (
            <>
              <h3>memory #{detail.memory.id}</h3>
              <p>{detail.memory.text}</p>
              <p className="hint">
                {when(detail.memory.created)} · {detail.memory.model || "no model"} · recalled {detail.memory.access_count} times
                {Object.keys(detail.memory.found_by).length ? ` · found by ${Object.entries(detail.memory.found_by).map(([k, v]) => `${k}=${v}`).join(", ")}` : ""}
              </p>
              <h4>raw episode{detail.episodes.length === 1 ? "" : "s"}</h4>
              {detail.episodes.map((e) => (
                <pre key={e.id}>{e.text ?? `(episode ${e.id} is gone)`}</pre>
              ))}
              {detail.merged.length > 0 && (
                <>
                  <h4>what sleep merged into it</h4>
                  <ul>
                    {detail.merged.map((m) => (
                      <li key={m.id}>
                        <button onClick={() => void open(m.id)}>#{m.id}</button> {m.text}
                      </li>
                    ))}
                  </ul>
                </>
              )}
              {detail.replaced_by && (
                <p>
                  replaced by <button onClick={() => void open(detail.replaced_by!.id)}>#{detail.replaced_by.id}</button> {detail.replaced_by.text}
                </p>
              )}
            </>
          ) : (
            <p className="hint">Pick a memory to read its raw episode.</p>
          )}
          <h3>values</h3>
          <table className="values">
            <thead>
              <tr>
                <th>name</th>
                <th>weight</th>
                <th>curve</th>
                <th>rate</th>
                <th>level</th>
                <th>one more is worth</th>
              </tr>
            </thead>
            <tbody>
              {values.map((v) => (
                <tr key={v.name}>
                  <td>{v.name}</td>
                  <td>{v.weight}</td>
                  <td>{v.curve}</td>
                  <td>{v.rate}</td>
                  <td>{v.level.toFixed(2)}</td>
                  <td>{v.marginal.toFixed(3)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </div>
    </div>
  );
}
