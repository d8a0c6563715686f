// A conversation as a tree: every regenerate (or edit) forks a sibling, and `active` says
// which child each message continues with, so every branch stays and can be browsed.

export type Span = {
  start: number;
  end: number;
  kind: string; // "sea", "soft" or "hard"
  tool?: string | null;
  args?: string | null;
  result?: string | null;
  seconds?: number | null;
  error?: boolean;
  island?: number | null;
  ref?: number | null;
  answer?: boolean;
};

export type Recalled = { ref: string; id?: number; text: string; why: string }; // a memory recalled into the prompt (a soft island)

export type Message = {
  id: string;
  role: "user" | "assistant" | "system";
  text: string;
  parent: string | null;
  spans?: Span[];
  recalled?: Recalled[];
  group?: string; // replies asked for together (n > 1) share a group and show side by side
  model?: string;
  seconds?: number;
  error?: string;
  streaming?: boolean;
};

export type Conversation = {
  format: "islands-conversation";
  version: 1;
  title: string;
  messages: Record<string, Message>;
  children: Record<string, string[]>; // parent id ("" for the first messages) -> children, oldest first
  active: Record<string, string>; // parent id -> the child the conversation continues with
};

export const ROOT = "";

export function empty(title = "conversation"): Conversation {
  return { format: "islands-conversation", version: 1, title, messages: {}, children: {}, active: {} };
}

let counter = 0;
export function newId(): string {
  counter += 1;
  return `m${Date.now().toString(36)}${counter.toString(36)}${Math.random().toString(36).slice(2, 6)}`;
}

/** The messages from the first to the last along the active children. */
export function path(c: Conversation): Message[] {
  const out: Message[] = [];
  let at = ROOT;
  for (;;) {
    const kids = c.children[at];
    if (!kids?.length) return out;
    const next = c.active[at] ?? kids[kids.length - 1];
    const m = c.messages[next];
    if (!m) return out;
    out.push(m);
    at = m.id;
  }
}

export function siblings(c: Conversation, m: Message): string[] {
  return c.children[m.parent ?? ROOT] ?? [m.id];
}

/** A copy with `m` added as the newest (and active) child of its parent. */
export function add(c: Conversation, m: Message): Conversation {
  const key = m.parent ?? ROOT;
  return {
    ...c,
    messages: { ...c.messages, [m.id]: m },
    children: { ...c.children, [key]: [...(c.children[key] ?? []), m.id] },
    active: { ...c.active, [key]: m.id },
  };
}

export function update(c: Conversation, id: string, change: (m: Message) => Message): Conversation {
  const m = c.messages[id];
  return m ? { ...c, messages: { ...c.messages, [id]: change(m) } } : c;
}

/** A copy continuing with sibling `by` steps away from `m` (wrapping round). */
export function switchBranch(c: Conversation, m: Message, by: number): Conversation {
  const kids = siblings(c, m);
  const at = kids.indexOf(m.id);
  const next = kids[(at + by + kids.length) % kids.length];
  return { ...c, active: { ...c.active, [m.parent ?? ROOT]: next } };
}

export function choose(c: Conversation, m: Message): Conversation {
  return { ...c, active: { ...c.active, [m.parent ?? ROOT]: m.id } };
}

/** The conversation read back from an export; throws with a one-line reason. */
export function parse(text: string): Conversation {
  let data: any;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new Error(`not JSON: ${(e as Error).message}`);
  }
  if (data?.format !== "islands-conversation" || data?.version !== 1 || typeof data.messages !== "object")
    throw new Error("not an islands conversation (format islands-conversation, version 1)");
  for (const [id, m] of Object.entries<any>(data.messages)) {
    if (m.id !== id || typeof m.text !== "string" || !["user", "assistant", "system"].includes(m.role))
      throw new Error(`message ${id}: needs id, role and text`);
    m.streaming = false;
  }
  return { ...empty(), ...data };
}

/** The messages as an OpenAI `messages` list. */
export function chatMessages(msgs: Message[]): { role: string; content: string }[] {
  return msgs.map((m) => ({ role: m.role, content: m.text }));
}
