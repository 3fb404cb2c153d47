// REST calls on Parley's own origin: the session cookie authenticates, and every write carries
// the CSRF token the login answered (kept in sessionStorage so a reload keeps working).

const CSRF_KEY = "parley:csrf";

export class ApiError extends Error {
  constructor(status, code, message, field = null) {
    super(message);
    this.status = status;
    this.code = code;
    /// The input field at fault as the server names it (`routing.capacity`), or null.
    this.field = field;
  }
}

export function csrfToken() {
  return sessionStorage.getItem(CSRF_KEY);
}

export function setCsrfToken(token) {
  if (token) sessionStorage.setItem(CSRF_KEY, token);
  else sessionStorage.removeItem(CSRF_KEY);
}

/// Answers the JSON body; throws an ApiError whose message is readable by a person.
export async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const token = csrfToken();
  if (method !== "GET" && token) headers["X-CSRF-Token"] = token;
  let response;
  try {
    response = await fetch(`/api/v1${path}`, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, "network", "Parley cannot be reached; check your connection.");
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    const code = data?.error ?? "http";
    const message = data?.message ?? `The server answered ${response.status}.`;
    throw new ApiError(
      response.status,
      code,
      humanize(response.status, code, message),
      data?.field ?? null,
    );
  }
  return data;
}

function humanize(status, code, message) {
  if (code === "invalid_credentials" || (status === 401 && message)) return message;
  if (status === 429) return "Too many attempts; wait a minute and try again.";
  if (status >= 500) return "Parley had a problem answering; try again.";
  return message;
}
