/** The server's public surface: the CLI starts Cairn through these. */
export { buildApp, API_PREFIX } from './app.js';
export { openPlatform, type Platform, type PlatformOptions } from './platform.js';
export { buildServingApp } from './serving-app.js';
