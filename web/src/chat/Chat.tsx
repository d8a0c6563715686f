// Chat: streaming replies with every span coloured by origin (sea, soft, hard) and a card per
// island; regenerate forks the conversation (a tree whose branches stay browsable); n replies
// side by side; Markdown; export/import; keyboard: Enter sends, Alt+R regenerates, Alt+←/→
// switch the last reply's branch, Escape stops.
import { memo, useCallback, useEffect, useMemo, useRef, useState } from "react";
import { download, pickFile, postStream } from "../api";
import * as C from "./conversation";
import type { Conversation, Message, Recalled, Span } from "./conversation";
import { toHtml } from "./render";

type Settings = {
  mode: "chat" | "text";
  tools: string[];
  n: number;
  temperature: number;
  maxTokens: number;
  markdown: boolean;
  memory: boolean;
};

const DEFAULTS: Settings = { mode: "chat", tools: ["calc"], n: 1, temperature: 0.7, maxTokens: 128, markdown: true, memory: false };
const STORE = "islands.chat.v1";
const TOOLS = ["calc", "py"];

function load(): Conversation {
  try {
    const saved = localStorage.getItem(STORE);
    if (saved) return C.parse(saved);
  } catch {
    /* a broken save starts afresh */
  }
  return C.empty();
}

function lineage(c: Conversation, upTo: string | null): Message[] {
  const out: Message[] = [];
  for (let at = upTo; at; at = c.messages[at]?.parent ?? null) out.unshift(c.messages[at]);
  return out;
}

export default function Chat() {
  const [conv, setConv] = useState<Conversation>(load);
  const [settings, setSettings] = useState<Settings>(DEFAULTS);
  const [draft, setDraft] = useState("");
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const abort = useRef<AbortController | null>(null);
  const convRef = useRef(conv);
  convRef.current = conv;
  const input = useRef<HTMLTextAreaElement>(null);
  const seed = useRef(Math.floor(Math.random() * 1e6));

  useEffect(() => {
    const t = setTimeout(() => {
      try {
        localStorage.setItem(STORE, JSON.stringify(conv));
      } catch {
        /* storage full: the export still works */
      }
    }, 500);
    return () => clearTimeout(t);
  }, [conv]);

  const generate = useCallback(
    async (parent: string, given?: Message[]) => {
      const s = settings;
      const before = given ?? lineage(convRef.current, parent);
      const group = C.newId();
      const ids = Array.from({ length: s.n }, () => C.newId());
      setConv((c) => {
        let next = c;
        for (const id of ids) next = C.add(next, { id, role: "assistant", text: "", parent, group: s.n > 1 ? group : undefined, streaming: true });
        return C.choose(next, next.messages[ids[0]]);
      });
      setBusy(true);
      setError("");
      const ctl = new AbortController();
      abort.current = ctl;
      const t0 = performance.now();
      seed.current += 1;
      const common: Record<string, unknown> = {
        stream: true,
        n: s.n,
        temperature: s.temperature,
        max_tokens: s.maxTokens,
        seed: seed.current,
        ...(s.tools.length ? { tools: s.tools } : {}),
        ...(s.memory ? { memory: { recall: true, remember: true } } : {}),
      };
      const [url, payload] =
        s.mode === "chat"
          ? ["/v1/chat/completions", { ...common, messages: C.chatMessages(before) }]
          : ["/v1/completions", { ...common, prompt: before.map((m) => m.text).join("") }];
      const texts = ids.map(() => "");
      const spans: (Span[] | undefined)[] = ids.map(() => undefined);
      let recalled: Recalled[] | undefined;
      let model = "";
      let pending = false;
      const flush = () => {
        pending = false;
        setConv((c) => {
          let next = c;
          ids.forEach((id, i) => (next = C.update(next, id, (m) => ({ ...m, text: texts[i], spans: spans[i] ?? m.spans, recalled: recalled ?? m.recalled, model }))));
          return next;
        });
      };
      try {
        await postStream(
          url,
          payload,
          (chunk) => {
            model = chunk.model ?? model;
            if (chunk.islands?.recalled) recalled = chunk.islands.recalled;
            for (const choice of chunk.choices ?? []) {
              const i = choice.index ?? 0;
              if (i >= ids.length) continue;
              texts[i] += (s.mode === "chat" ? choice.delta?.content : choice.text) ?? "";
              if (choice.spans) spans[i] = choice.spans;
            }
            if (!pending) {
              pending = true;
              requestAnimationFrame(flush);
            }
          },
          ctl.signal,
        );
      } catch (e) {
        if ((e as Error).name !== "AbortError") setError((e as Error).message);
      } finally {
        flush();
        const seconds = (performance.now() - t0) / 1000;
        setConv((c) => {
          let next = c;
          for (const id of ids) next = C.update(next, id, (m) => ({ ...m, streaming: false, seconds }));
          return next;
        });
        setBusy(false);
        abort.current = null;
      }
    },
    [settings],
  );

  const send = useCallback(() => {
    const text = draft;
    if (!text.trim() || busy) return;
    const shown = C.path(convRef.current);
    const m: Message = { id: C.newId(), role: "user", text, parent: shown.at(-1)?.id ?? null };
    setConv((c) => C.add(c, m));
    setDraft("");
    void generate(m.id, [...shown, m]);
  }, [draft, busy, generate]);

  const regenerate = useCallback(
    (m: Message) => {
      if (busy || m.role !== "assistant" || m.parent === null) return;
      void generate(m.parent);
    },
    [busy, generate],
  );

  const edit = useCallback(
    (m: Message, text: string) => {
      if (busy || !text.trim()) return;
      const before = lineage(convRef.current, m.parent);
      const fork: Message = { id: C.newId(), role: "user", text, parent: m.parent };
      setConv((c) => C.add(c, fork));
      void generate(fork.id, [...before, fork]);
    },
    [busy, generate],
  );

  const shown = useMemo(() => C.path(conv), [conv]);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const last = [...C.path(convRef.current)].reverse().find((m) => m.role === "assistant");
      if (e.key === "Escape" && abort.current) abort.current.abort();
      else if (e.altKey && (e.key === "r" || e.key === "R") && last) {
        e.preventDefault();
        regenerate(last);
      } else if (e.altKey && (e.key === "ArrowLeft" || e.key === "ArrowRight") && last) {
        e.preventDefault();
        setConv((c) => C.switchBranch(c, last, e.key === "ArrowLeft" ? -1 : 1));
      } else if (e.key === "/" && document.activeElement === document.body) {
        e.preventDefault();
        input.current?.focus();
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [regenerate]);

  const onSwitch = useCallback((m: Message, by: number) => setConv((c) => C.switchBranch(c, m, by)), []);
  const onChoose = useCallback((m: Message) => setConv((c) => C.choose(c, m)), []);

  const exportIt = () => download(`${conv.title || "conversation"}.json`, JSON.stringify({ ...conv }, null, 1));
  const importIt = async () => {
    const file = await pickFile(".json,application/json");
    if (!file) return;
    try {
      setConv(C.parse(file.text));
      setError("");
    } catch (e) {
      setError(`${file.name}: ${(e as Error).message}`);
    }
  };

  const set = <K extends keyof Settings>(k: K, v: Settings[K]) => setSettings((s) => ({ ...s, [k]: v }));

  return (
    <div className="chat">
      <div className="toolbar" role="toolbar" aria-label="chat settings">
        <label>
          model{" "}
          <select value={settings.mode} onChange={(e) => set("mode", e.target.value as Settings["mode"])} data-testid="mode">
            <option value="chat" title="/v1/chat/completions">chat model</option>
            <option value="text" title="/v1/completions: the conversation's text is continued">base model (text continues)</option>
          </select>
        </label>
        <span className="tools">
          hard islands:
          {TOOLS.map((t) => (
            <label key={t}>
              <input
                type="checkbox"
                checked={settings.tools.includes(t)}
                onChange={(e) => set("tools", e.target.checked ? [...settings.tools, t] : settings.tools.filter((x) => x !== t))}
              />
              {t}
            </label>
          ))}
        </span>
        <label>
          n <input type="number" min={1} max={8} value={settings.n} onChange={(e) => set("n", Math.max(1, Math.min(8, +e.target.value || 1)))} />
        </label>
        <label>
          temperature{" "}
          <input type="number" min={0} max={2} step={0.1} value={settings.temperature} onChange={(e) => set("temperature", +e.target.value)} data-testid="temperature" />
        </label>
        <label>
          max tokens <input type="number" min={1} max={4096} value={settings.maxTokens} onChange={(e) => set("maxTokens", +e.target.value || 1)} data-testid="max-tokens" />
        </label>
        <label>
          <input type="checkbox" checked={settings.markdown} onChange={(e) => set("markdown", e.target.checked)} /> Markdown
        </label>
        <label>
          <input type="checkbox" checked={settings.memory} onChange={(e) => set("memory", e.target.checked)} /> memory
        </label>
        <span className="spacer" />
        <button onClick={exportIt}>Export</button>
        <button onClick={importIt}>Import</button>
        <button onClick={() => setConv(C.empty())} disabled={busy}>
          New
        </button>
      </div>
      <Legend />
      <div className="messages" data-testid="messages" aria-live="polite">
        {shown.length === 0 && <p className="hint">Write below and press Enter. Try the base model with “2^100 is CALC(2^100)”.</p>}
        {shown.map((m) => turn(conv, m, { markdown: settings.markdown, busy, onRegenerate: regenerate, onSwitch, onChoose, onEdit: edit }))}
      </div>
      {error && (
        <div className="error" role="alert" data-testid="chat-error">
          {error}
        </div>
      )}
      <div className="composer">
        <textarea
          ref={input}
          value={draft}
          placeholder="Message (Enter sends, Shift+Enter new line, Alt+R regenerate, Alt+←/→ branches, Esc stop)"
          aria-label="message"
          data-testid="prompt"
          onChange={(e) => setDraft(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === "Enter" && !e.shiftKey) {
              e.preventDefault();
              send();
            }
          }}
        />
        {busy ? (
          <button onClick={() => abort.current?.abort()}>Stop</button>
        ) : (
          <button onClick={send} data-testid="send">
            Send
          </button>
        )}
      </div>
    </div>
  );
}

function Legend() {
  return (
    <div className="legend" aria-label="legend">
      <span className="island sea">sea: sampled by the model</span>
      <span className="island soft">soft island: recalled or retrieved</span>
      <span className="island hard">hard island: tool result, copied or forced</span>
    </div>
  );
}

/** One turn: the active message, or with n > 1 the whole group side by side. */
function turn(conv: Conversation, m: Message, common: Omit<ViewProps, "m" | "active" | "index" | "count">) {
  const kids = C.siblings(conv, m);
  const group = m.group ? kids.filter((id) => conv.messages[id]?.group === m.group) : [m.id];
  const index = kids.indexOf(m.id) + 1;
  if (group.length > 1)
    return (
      <div className="side-by-side" key={m.id}>
        {group.map((id) => (
          <MessageView key={id} m={conv.messages[id]} active={id === m.id} index={kids.indexOf(id) + 1} count={kids.length} {...common} />
        ))}
      </div>
    );
  return <MessageView key={m.id} m={m} active index={index} count={kids.length} {...common} />;
}

type ViewProps = {
  m: Message;
  markdown: boolean;
  active: boolean;
  busy: boolean;
  index: number;
  count: number;
  onRegenerate: (m: Message) => void;
  onSwitch: (m: Message, by: number) => void;
  onChoose: (m: Message) => void;
  onEdit: (m: Message, text: string) => void;
};

const MessageView = memo(function MessageView({ m, markdown, active, busy, index, count, onRegenerate, onSwitch, onChoose, onEdit }: ViewProps) {
  const [editing, setEditing] = useState<string | null>(null);
  const html = useMemo(() => (m.role === "user" ? null : toHtml(m.text, m.spans, markdown && !m.streaming)), [m.text, m.spans, m.role, markdown, m.streaming]);
  const islands = (m.spans ?? []).filter((s) => s.kind !== "sea");
  const [lit, setLit] = useState<number | null>(null);
  return (
    <div className={`msg ${m.role}${active ? " active" : ""}`} data-testid="message" data-role={m.role} data-streaming={m.streaming ? "1" : "0"}>
      <div className="meta">
        <b>{m.role}</b>
        {m.model && <span>{m.model}</span>}
        {m.seconds !== undefined && <span>{m.seconds.toFixed(1)} s</span>}
        {count > 1 && (
          <span className="branches">
            <button aria-label="previous branch" data-testid="branch-prev" onClick={() => onSwitch(m, -1)}>
              ‹
            </button>
            <span data-testid="branch-label">
              {index}/{count}
            </span>
            <button aria-label="next branch" data-testid="branch-next" onClick={() => onSwitch(m, 1)}>
              ›
            </button>
          </span>
        )}
        {m.role === "assistant" && (
          <button data-testid="regenerate" disabled={busy} onClick={() => onRegenerate(m)} title="Regenerate (Alt+R): a new branch">
            ↻ regenerate
          </button>
        )}
        {m.role === "user" && editing === null && (
          <button data-testid="edit" disabled={busy} onClick={() => setEditing(m.text)} title="Edit: a new branch from here">
            ✎ edit
          </button>
        )}
        {!active && (
          <button onClick={() => onChoose(m)} data-testid="choose">
            continue with this
          </button>
        )}
      </div>
      {m.recalled && m.recalled.length > 0 && (
        <div className="cards">
          {m.recalled.map((r) => (
            <div className="card soft" key={r.ref} data-testid="memory-card" title={r.why}>
              <b>{r.ref}</b> {r.text} <span className="kind">soft island · {r.why}</span>
            </div>
          ))}
        </div>
      )}
      {editing !== null ? (
        <textarea
          className="editbox"
          autoFocus
          aria-label="edit the message"
          data-testid="edit-box"
          value={editing}
          onChange={(e) => setEditing(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === "Enter" && !e.shiftKey) {
              e.preventDefault();
              onEdit(m, editing);
              setEditing(null);
            } else if (e.key === "Escape") setEditing(null);
          }}
        />
      ) : html === null ? (
        <div className="body plain">{m.text}</div>
      ) : (
        <div
          className="body"
          data-testid="reply"
          dangerouslySetInnerHTML={{ __html: html || (m.streaming ? "…" : "") }}
          onMouseOver={(e) => {
            const i = (e.target as HTMLElement).closest("[data-island]")?.getAttribute("data-island");
            setLit(i != null ? +i : null);
          }}
        />
      )}
      {m.error && <div className="error">{m.error}</div>}
      {islands.length > 0 && (
        <div className="cards">
          {(m.spans ?? []).map((s, i) =>
            s.kind === "sea" ? null : (
              <div key={i} className={`card ${s.kind}${lit === i ? " lit" : ""}${s.error ? " failed" : ""}`} data-testid="island-card">
                <b>{s.tool ?? s.kind}</b>
                {s.args != null && <code>({s.args})</code>}
                {s.result != null && (
                  <>
                    {" "}→ <code>{s.result}</code>
                  </>
                )}
                {s.seconds != null && <span className="secs">{(s.seconds * 1000).toFixed(1)} ms</span>}
                <span className="kind">{s.kind} island{s.ref != null ? ` (copy of island ${s.ref})` : ""}</span>
              </div>
            ),
          )}
        </div>
      )}
    </div>
  );
});
