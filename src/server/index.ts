/** The server's public surface: the CLI starts Cairn through these. */
export { buildApp, API_PREFIX } from './app.js';
export { openPlatform, type Platform } from './platform.js';
