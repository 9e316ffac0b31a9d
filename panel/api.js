// The admin API client: JSON over fetch with the API key from sessionStorage, failures thrown as
// ApiError (status, message, field errors), and uploads through XMLHttpRequest for progress.

const KEY = 'crmsync.api_key';

// A failed call: HTTP status (0 when no answer came), the API's message and its field errors.
export class ApiError extends Error {
  constructor(status, message, fields = []) {
    super(message);
    this.status = status;
    this.fields = fields;
  }
}

// The signed-in API key, or null.
export function api_key() {
  return sessionStorage.getItem(KEY);
}

// Keeps the key for this tab only (sessionStorage ends with the tab).
export function sign_in(key) {
  sessionStorage.setItem(KEY, key);
}

// Forgets the key (signing out, or after the API refused it).
export function sign_out() {
  sessionStorage.removeItem(KEY);
}

// The error an answer describes; its body is the API's {"error", "fields"} when it is JSON.
function error_of(status, text) {
  let body = null;
  try {
    body = JSON.parse(text);
  } catch {
    body = null;
  }
  const message = body && typeof body.error === 'string' ? body.error : `HTTP ${status}`;
  const fields = body && Array.isArray(body.fields) ? body.fields : [];
  const error = new ApiError(status, message, fields);
  error.body = body;
  return error;
}

// Calls METHOD /api/v1PATH with an optional JSON body; resolves to the parsed answer (null for
// 204), rejects with ApiError.
export async function call(method, path, body) {
  const headers = {Accept: 'application/json'};
  const key = api_key();
  if (key) headers.Authorization = `Bearer ${key}`;
  const init = {method, headers};
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(`/api/v1${path}`, init);
  } catch (e) {
    throw new ApiError(0, `нет связи с сервером (${e.message})`);
  }
  const text = await response.text();
  if (!response.ok) throw error_of(response.status, text);
  return text ? JSON.parse(text) : null;
}

// POSTs a file as text/csv to /api/v1PATH, reporting upload progress (0..1) to on_progress;
// resolves to the parsed answer, rejects with ApiError. XMLHttpRequest, since fetch reports no
// upload progress.
export function upload(path, file, on_progress) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open('POST', `/api/v1${path}`);
    const key = api_key();
    if (key) request.setRequestHeader('Authorization', `Bearer ${key}`);
    request.setRequestHeader('Content-Type', 'text/csv');
    request.upload.addEventListener('progress', (event) => {
      if (event.lengthComputable) on_progress(event.loaded / event.total);
    });
    request.addEventListener('load', () => {
      if (request.status >= 200 && request.status < 300) {
        on_progress(1);
        resolve(JSON.parse(request.responseText));
      } else {
        reject(error_of(request.status, request.responseText));
      }
    });
    request.addEventListener('error', () => reject(new ApiError(0, 'нет связи с сервером')));
    request.send(file);
  });
}

// Calls GET PATH every interval_ms until done(answer) holds, passing each answer to on_answer;
// resolves to the last answer.
export async function poll(path, done, on_answer = () => {}, interval_ms = 400) {
  for (;;) {
    const answer = await call('GET', path);
    on_answer(answer);
    if (done(answer)) return answer;
    await new Promise((resume) => setTimeout(resume, interval_ms));
  }
}
