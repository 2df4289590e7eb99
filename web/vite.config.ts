// Build and dev server. SvelteKit 3 takes its options here (no svelte.config.js): a
// single-page app (ssr = false in the root layout) written by adapter-static to build/,
// with index.html as the fallback the wallet serves for every unknown path.
import adapter from "@sveltejs/adapter-static";
import { sveltekit } from "@sveltejs/kit/vite";
import { defineConfig } from "vite";

// `npm run dev -w web` proxies the API to a wallet started with `npm start` (or WALLET_URL).
const wallet = process.env.WALLET_URL ?? "http://127.0.0.1:8080";

export default defineConfig({
  plugins: [
    sveltekit({
      adapter: adapter({ pages: "build", assets: "build", fallback: "index.html", strict: true }),
    }),
  ],
  server: {
    proxy: {
      "/api": { target: wallet, changeOrigin: false },
      "/cvwallet.wallet.v1.WalletService": { target: wallet, changeOrigin: false },
    },
  },
});
