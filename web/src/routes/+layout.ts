// A single-page app: the wallet serves build/index.html for every path and the browser
// does the rest, talking to the wallet's Connect API on the same origin.
export const ssr = false;
export const prerender = false;
