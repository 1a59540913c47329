// undici's own files, imported by runtimes/node/undici-parts.ts, which gives them undici's types.
declare module 'undici/lib/dispatcher/agent.js' {
  const Agent: unknown;
  export default Agent;
}
declare module 'undici/lib/dispatcher/pool.js' {
  const Pool: unknown;
  export default Pool;
}
declare module 'undici/lib/api/api-request.js' {
  const request: unknown;
  export default request;
}
