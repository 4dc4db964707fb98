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

export async function call<T>(service: Service, path: string, options: CallOptions = {}): Promise<T> {
  const url = new URL(`/api/${service}${path}`, window.location.origin)
  for (const [key, value] of Object.entries(options.query ?? {})) {
    if (value !== undefined && value !== null && value !== '') url.searchParams.set(key, String(value))
  }
  const headers: Record<string, string> = {
    Accept: 'application/json',
    'Accept-Language': currentLocale() === 'en' ? 'en' : 'zh-CN,zh;q=0.9',
  }
  if (session.token) headers.Authorization = `Bearer ${session.token}`
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
  const text = await response.text()
  let data: unknown = null
  try {
    data = text ? JSON.parse(text) : null
  } catch {
    data = { detail: text.slice(0, 200) }
  }
  if (!response.ok) {
    const retry = Number(response.headers.get('Retry-After'))
    const error = new ApiError(response.status, (data ?? {}) as Problem, Number.isFinite(retry) && retry > 0 ? retry : null)
    if (response.status === 401 && session.token && path !== '/auth/token') signOut(true)
    throw error
  }
  return data as T
}
