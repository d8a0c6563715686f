// A reply as HTML: Markdown, with every island's text wrapped in a span coloured by its kind
// (the sea stays plain), sanitized before it reaches the page.
import DOMPurify from "dompurify";
import { marked } from "marked";
import type { Span } from "./conversation";

const escape = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/** The text with each non-sea span wrapped: `<span class="island hard" data-island="0">…</span>`. */
export function markIslands(text: string, spans: Span[] | undefined, sea: (s: string) => string = (s) => s): string {
  if (!spans?.length) return sea(text);
  let out = "";
  let at = 0;
  const sorted = [...spans].sort((a, b) => a.start - b.start);
  sorted.forEach((s, i) => {
    if (s.start < at || s.end > text.length) return;
    out += sea(text.slice(at, s.start));
    const piece = text.slice(s.start, s.end);
    if (s.kind === "sea") out += sea(piece);
    else {
      const title = s.tool ? `${s.tool}(${s.args ?? ""}) → ${s.result ?? ""}` : s.kind;
      out += `<span class="island ${escape(s.kind)}${s.error ? " failed" : ""}" data-island="${i}" title="${escape(title)}">${escape(piece)}</span>`;
    }
    at = s.end;
  });
  return out + sea(text.slice(at));
}

const cache = new Map<string, string>();

export function toHtml(text: string, spans: Span[] | undefined, markdown: boolean): string {
  const key = `${markdown ? 1 : 0}\u0000${text}\u0000${JSON.stringify(spans ?? [])}`;
  const hit = cache.get(key);
  if (hit !== undefined) return hit;
  const marked_ = markIslands(text, spans, markdown ? undefined : escape);
  const raw = markdown ? (marked.parse(marked_, { async: false, breaks: true, gfm: true }) as string) : `<p class="plain">${marked_}</p>`;
  const html = DOMPurify.sanitize(raw, { ADD_ATTR: ["data-island"] });
  if (cache.size > 5000) cache.clear();
  cache.set(key, html);
  return html;
}
