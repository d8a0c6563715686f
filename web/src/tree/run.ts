// Running a flow on the server and folding its event stream into tree states.
import { useCallback, useRef, useState } from "react";
import { postStream } from "../api";
import { emptyTree, reduce, type TreeState } from "./model";

export function useFlowRun() {
  const [state, setState] = useState<TreeState>(emptyTree);
  const [running, setRunning] = useState(false);
  const abort = useRef<AbortController | null>(null);
  const run = useCallback(async (flow: string | object, inputs?: Record<string, string>) => {
    abort.current?.abort();
    const ctl = new AbortController();
    abort.current = ctl;
    setState(emptyTree());
    setRunning(true);
    try {
      await postStream("/islands/flows/run", { flow, inputs }, (e) => setState((s) => reduce(s, e)), ctl.signal);
    } catch (e) {
      if ((e as Error).name !== "AbortError") setState((s) => reduce(s, { event: "error", message: (e as Error).message }));
    } finally {
      setRunning(false);
    }
  }, []);
  const stop = useCallback(() => abort.current?.abort(), []);
  return { state, running, run, stop };
}
