import { defineConfig } from 'vite'
import vue from '@vitejs/plugin-vue'

// Every asset is bundled from node_modules: the built console loads nothing from the internet.
export default defineConfig({
  plugins: [vue()],
  build: { outDir: 'dist', emptyOutDir: true, chunkSizeWarningLimit: 2000 },
  server: { proxy: { '/api': 'http://127.0.0.1:8000', '/console': 'http://127.0.0.1:8000' } },
})
