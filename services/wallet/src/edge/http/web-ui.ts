// Serves the built web UI (adapter-static output) at / with the SPA fallback: any GET that
// is not an API, RPC or probe path and names no file gets index.html.
import { existsSync } from "node:fs";
import { join } from "node:path";
import express, { type Router } from "express";

const NOT_UI = /^\/(api|cvwallet\.|healthz|readyz|metrics)(\/|$|\.)/;

/** Undefined when the directory has no index.html (UI not built): the API still serves. */
export function webUi(dir: string): Router | undefined {
  const index = join(dir, "index.html");
  if (!existsSync(index)) return undefined;
  const router = express.Router();
  router.use(express.static(dir, { index: "index.html", fallthrough: true, dotfiles: "ignore", maxAge: "1h" }));
  router.get(/.*/, (req, res, next) => {
    if (NOT_UI.test(req.path)) return next();
    res.setHeader("Cache-Control", "no-cache");
    res.sendFile(index);
  });
  return router;
}
