// Calls to the services through the console's one origin: /api/<service>/<path>.
import { currentLocale } from './i18n'
import { session, signOut } from './session'

export type Service = 'needs' | 'resources' | 'matcher'

export interface FieldError {
  field: string
  rule: string
  message: string
}

export interface Problem {
  title?: string
  detail?: string
  status?: number
  errors?: FieldError[]
  [key: string]: unknown
}

/** A refused or unanswered call: `fields` maps a form field to the API's message about it. */
export class ApiError extends Error {
  readonly status: number
  readonly problem: Problem
  readonly fields: Record<string, string>
  readonly retryAfter: number | null

  constructor(status: number, problem: Problem, retryAfter: number | null) {
    super(problem.detail || problem.title || String(status))
    this.status = status
    this.problem = problem
    this.retryAfter = retryAfter
    this.fields = {}
    for (const error of problem.errors ?? []) {
      this.fields[error.field] = error.message
    }
  }

  /** The service (or the network) did not answer: the user may try again. */
  get unavailable(): boolean {
    return this.status === 0 || this.status === 502 || this.status === 503 || this.status === 504
  }
}

export interface CallOptions {
  method?: string
  body?: unknown
  query?: Record<string, string | number | boolean | undefined | null>
  form?: Record<string, string>
}

function headersFor(): Record<string, string> {
  const headers: Record<string, string> = {
    Accept: 'application/json',
    'Accept-Language': currentLocale() === 'en' ? 'en' : 'zh-CN,zh;q=0.9',
  }
  if (session.token) headers.Authorization = `Bearer ${session.token}`
  return headers
}

/** The answer's JSON; a refusal becomes an ApiError (a 401 also signs the user out). */
function answered<T>(path: string, status: number, text: string, retryAfter: string | null): T {
  let data: unknown = null
  try {
    data = text ? JSON.parse(text) : null
  } catch {
    data = { detail: text.slice(0, 200) }
  }
  if (status < 200 || status >= 300) {
    const retry = Number(retryAfter)
    const error = new ApiError(status, (data ?? {}) as Problem, Number.isFinite(retry) && retry > 0 ? retry : null)
    if (status === 401 && session.token && path !== '/auth/token') signOut(true)
    throw error
  }
  return data as T
}

function urlOf(service: Service, path: string, query: CallOptions['query'] = {}): URL {
  const url = new URL(`/api/${service}${path}`, window.location.origin)
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== '') url.searchParams.set(key, String(value))
  }
  return url
}

export async function call<T>(service: Service, path: string, options: CallOptions = {}): Promise<T> {
  const url = urlOf(service, path, options.query)
  const headers = headersFor()
  let body: BodyInit | undefined
  if (options.form) {
    headers['Content-Type'] = 'application/x-www-form-urlencoded'
    body = new URLSearchParams(options.form).toString()
  } else if (options.body !== undefined) {
    headers['Content-Type'] = 'application/json'
    body = JSON.stringify(options.body)
  }
  let response: Response
  try {
    response = await fetch(url, { method: options.method ?? (body ? 'POST' : 'GET'), headers, body })
  } catch {
    throw new ApiError(0, { title: 'network' }, null)
  }
  return answered<T>(path, response.status, await response.text(), response.headers.get('Retry-After'))
}

/** POST a file as the request body, reporting the share sent so far (0–1) as it goes: fetch
 * cannot tell upload progress, XMLHttpRequest can. */
export function upload<T>(service: Service, path: string, file: Blob, onProgress: (sent: number) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const request = new XMLHttpRequest()
    request.open('POST', urlOf(service, path))
    for (const [key, value] of Object.entries(headersFor())) request.setRequestHeader(key, value)
    request.setRequestHeader('Content-Type', file.type || 'application/octet-stream')
    request.upload.onprogress = (event) => {
      if (event.lengthComputable && event.total > 0) onProgress(event.loaded / event.total)
    }
    request.upload.onload = () => onProgress(1)
    request.onerror = () => reject(new ApiError(0, { title: 'network' }, null))
    request.onload = () => {
      try {
        resolve(answered<T>(path, request.status, request.responseText, request.getResponseHeader('Retry-After')))
      } catch (caught) {
        reject(caught)
      }
    }
    request.send(file)
  })
}
