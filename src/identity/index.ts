export * from './model.js';
export { SqlTokenStore, type TokenStore } from './token-store.js';
export { TokenService, requireRole } from './token-service.js';
export { tokenRoutes } from './routes.js';
