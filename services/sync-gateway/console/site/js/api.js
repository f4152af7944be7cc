// The one way the pages call the gateway: same origin, /sync/v1, the operator's bearer token, and every error turned
// into the Chinese message the server wrote (its body's `message`), so a page only has to show `error.message`.
const TOKEN_KEY = "shixiang.console.token";
export const API = "/sync/v1";

// sessionStorage: the token goes when the tab closes, and is not shared with other tabs or sites.
export const getToken = () => sessionStorage.getItem(TOKEN_KEY);
export const setToken = (token) => sessionStorage.setItem(TOKEN_KEY, token);
export const clearToken = () => sessionStorage.removeItem(TOKEN_KEY);

// The token's claims, for the header only (who, roles, regions): the server verifies the token on every call.
export function claims(token = getToken()) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const json = new TextDecoder().decode(Uint8Array.from(atob(part), (c) => c.charCodeAt(0)));
    return JSON.parse(json);
  } catch {
    return null;
  }
}

export const isAdmin = () => (claims()?.roles || []).includes("admin");

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message || `请求失败（HTTP ${status}）`);
    this.status = status;
    this.code = body?.code || null;
    this.details = body?.details || null;
  }
}

export function authHeaders(extra = {}) {
  return { Authorization: `Bearer ${getToken() || ""}`, ...extra };
}

// Query parameters without the empty ones (a filter left blank is no filter).
export function query(params = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined && v !== "") q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : "";
}

export async function api(path, { method = "GET", params, body } = {}) {
  let response;
  try {
    response = await fetch(`${API}${path}${query(params)}`, {
      method,
      headers: authHeaders(body === undefined ? {} : { "Content-Type": "application/json" }),
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, { message: "无法连接同步网关，请检查网络或服务是否在运行" });
  }
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  // 401: the token expired or is not valid any more; the shell goes back to the sign-in screen.
  if (response.status === 401) window.dispatchEvent(new CustomEvent("console-unauthorized"));
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}
