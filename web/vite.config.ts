// The build goes into the Python package, where `islands serve` serves it at `/` (git-ignored).
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

export default defineConfig({
  plugins: [react()],
  build: { outDir: "../src/islands/server/static", emptyOutDir: true, chunkSizeWarningLimit: 1500 },
  server: { proxy: { "/v1": "http://127.0.0.1:8000", "/islands": "http://127.0.0.1:8000" } },
});
