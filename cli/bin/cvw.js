#!/usr/bin/env node
// The installed `cvw`: the bundle built at pack time (in the repository: npm run cvw -- ARGS).
import "../dist/cvw.js";
