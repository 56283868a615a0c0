import { createServer } from "node:net"; export const s = createServer; console.log("ok")
