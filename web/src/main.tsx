// The islands web page: Chat, Tree, Flow editor and Memory, one tab each (#/chat, #/tree, ...).
import "@xyflow/react/dist/style.css";
import "./style.css";
import { StrictMode, useEffect, useState } from "react";
import { createRoot } from "react-dom/client";
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
  useEffect(() => {
    const on = () => setPage(current());
    window.addEventListener("hashchange", on);
    return () => window.removeEventListener("hashchange", on);
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
