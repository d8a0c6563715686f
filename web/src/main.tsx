// The islands web page: Chat, Tree, Flow editor and Memory, one tab each (#/chat, #/tree, ...).
import "@xyflow/react/dist/style.css";
import "./style.css";
import { StrictMode, useEffect, useState } from "react";
import { createRoot } from "react-dom/client";
import { apiKey, setApiKey } from "./api";
import Chat from "./chat/Chat";
import Editor from "./editor/Editor";
import MemoryPage from "./memory/MemoryPage";
import TreePage from "./tree/TreePage";

const PAGES = { chat: "Chat", tree: "Tree", editor: "Flow editor", memory: "Memory" } as const;
type Page = keyof typeof PAGES;

const current = (): Page => {
  const name = location.hash.replace(/^#\/?/, "");
  return (name in PAGES ? name : "chat") as Page;
};

function App() {
  const [page, setPage] = useState<Page>(current);
  const [asking, setAsking] = useState(false); // the server wants an API key
  useEffect(() => {
    const on = () => setPage(current());
    const unauthorized = () => setAsking(true);
    window.addEventListener("hashchange", on);
    window.addEventListener("islands-unauthorized", unauthorized);
    return () => {
      window.removeEventListener("hashchange", on);
      window.removeEventListener("islands-unauthorized", unauthorized);
    };
  }, []);
  return (
    <div className="app">
      <nav className="tabs" aria-label="pages">
        <span className="brand">islands</span>
        {(Object.keys(PAGES) as Page[]).map((p) => (
          <a key={p} href={`#/${p}`} className={p === page ? "on" : ""} aria-current={p === page ? "page" : undefined} data-testid={`tab-${p}`}>
            {PAGES[p]}
          </a>
        ))}
        <span className="spacer" />
        {asking || apiKey() ? (
          <form
            className="keyform"
            onSubmit={(e) => {
              e.preventDefault();
              setApiKey(String(new FormData(e.currentTarget).get("key") ?? ""));
              location.reload();
            }}
          >
            <input name="key" type="password" placeholder="API key (islands serve --api-key)" defaultValue={apiKey()} aria-label="API key" />
            <button type="submit">Use key</button>
          </form>
        ) : null}
      </nav>
      <main>
        {page === "chat" && <Chat />}
        {page === "tree" && <TreePage />}
        {page === "editor" && <Editor />}
        {page === "memory" && <MemoryPage />}
      </main>
    </div>
  );
}

createRoot(document.getElementById("root") as HTMLElement).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
