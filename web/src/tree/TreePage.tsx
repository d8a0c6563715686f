// Tree: run a served flow (islands serve --flows DIR) or an `ask`, and watch its tree grow.
import { useEffect, useState } from "react";
import { getJson } from "../api";
import TreeView from "./TreeView";
import { useFlowRun } from "./run";

export type Served = { name: string; description: string; graph: { inputs?: Record<string, string> } & Record<string, unknown> };

export default function TreePage() {
  const [flows, setFlows] = useState<Served[]>([]);
  const [name, setName] = useState("");
  const [inputs, setInputs] = useState<Record<string, string>>({});
  const [error, setError] = useState("");
  const { state, running, run, stop } = useFlowRun();

  useEffect(() => {
    getJson<{ flows: Served[] }>("/islands/flows")
      .then((r) => {
        setFlows(r.flows);
        const first = r.flows[0];
        if (first) {
          setName(first.name);
          setInputs({ ...(first.graph.inputs ?? {}) });
        } else setName("ask");
      })
      .catch((e) => setError((e as Error).message));
  }, []);

  const pick = (n: string) => {
    setName(n);
    const f = flows.find((x) => x.name === n);
    setInputs(f ? { ...(f.graph.inputs ?? {}) } : { question: inputs.question ?? "What is 3 to the power 40?" });
  };

  const go = () => {
    if (name === "ask")
      void run({ name: "ask", inputs: { question: "" }, nodes: [{ id: "ask", op: "ask", question: "{question}" }] }, inputs);
    else void run(name, inputs);
  };

  return (
    <div className="page tree-page">
      <div className="toolbar">
        <label>
          flow{" "}
          <select value={name} onChange={(e) => pick(e.target.value)} data-testid="flow-select">
            {flows.map((f) => (
              <option key={f.name} value={f.name}>
                {f.name}
              </option>
            ))}
            <option value="ask">ask (hard islands, vote)</option>
          </select>
        </label>
        {Object.entries(inputs).map(([k, v]) => (
          <label key={k}>
            {k}{" "}
            <input value={v} size={40} onChange={(e) => setInputs({ ...inputs, [k]: e.target.value })} data-testid={`input-${k}`} />
          </label>
        ))}
        {running ? (
          <button onClick={stop}>Stop</button>
        ) : (
          <button onClick={go} data-testid="run" disabled={!name}>
            Run
          </button>
        )}
        <span className="hint">{flows.find((f) => f.name === name)?.description}</span>
      </div>
      {error && <div className="error">{error}</div>}
      <TreeView state={state} />
    </div>
  );
}
