// The page's only backend: the islands server's API (OpenAI routes and /islands/* routes).

export class ApiError extends Error {}

const KEY = "islands.apiKey";

/** The API key the page sends (a server started with --api-key wants one); kept in this browser. */
export const apiKey = () => localStorage.getItem(KEY) ?? "";
export const setApiKey = (key: string) => (key ? localStorage.setItem(KEY, key) : localStorage.removeItem(KEY));

function headers(extra: Record<string, string> = {}): Record<string, string> {
  const key = apiKey();
  return key ? { ...extra, Authorization: `Bearer ${key}` } : extra;
}

function failed(status: number, body: any, fallback: string): ApiError {
  if (status === 401) window.dispatchEvent(new CustomEvent("islands-unauthorized"));
  return new ApiError(body?.error?.message ?? fallback);
}

export async function getJson<T>(url: string): Promise<T> {
  const r = await fetch(url, { headers: headers() });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw failed(r.status, body, `${r.status} ${r.statusText}`);
  return body as T;
}

export async function postJson<T>(url: string, payload: unknown): Promise<T> {
  const r = await fetch(url, { method: "POST", headers: headers({ "Content-Type": "application/json" }), body: JSON.stringify(payload) });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw failed(r.status, body, `${r.status} ${r.statusText}`);
  return body as T;
}

/** POST `payload` and call `onData` with each server-sent event's data (parsed JSON) until [DONE]. */
export async function postStream(url: string, payload: unknown, onData: (data: any) => void, signal?: AbortSignal): Promise<void> {
  const r = await fetch(url, {
    method: "POST",
    headers: headers({ "Content-Type": "application/json", Accept: "text/event-stream" }),
    body: JSON.stringify(payload),
    signal,
  });
  if (!r.ok || !r.body) {
    const body = await r.json().catch(() => ({}));
    throw failed(r.status, body, `${r.status} ${r.statusText}`);
  }
  const reader = r.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut: number;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const data = block
        .split("\n")
        .filter((line) => line.startsWith("data:"))
        .map((line) => line.slice(5).trimStart())
        .join("\n");
      if (!data) continue;
      if (data === "[DONE]") return;
      const parsed = JSON.parse(data);
      if (parsed?.error) throw new ApiError(parsed.error.message);
      onData(parsed);
    }
  }
}

/** Save `text` as a file the browser downloads. */
export function download(name: string, text: string, type = "application/json"): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** Ask the user for a file and read it as text. */
export function pickFile(accept: string): Promise<{ name: string; text: string } | null> {
  return new Promise((resolve) => {
    const input = document.createElement("input");
    input.type = "file";
    input.accept = accept;
    input.onchange = async () => {
      const file = input.files?.[0];
      resolve(file ? { name: file.name, text: await file.text() } : null);
    };
    input.click();
  });
}
