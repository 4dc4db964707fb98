// Who is signed in: the token lives in sessionStorage, so a refresh keeps the session.
import { reactive } from 'vue'

export type Role =
  | 'social_worker'
  | 'station_lead'
  | 'county_hub'
  | 'coordinator'
  | 'alliance_reviewer'
  | 'admin'

export interface Me {
  username: string
  role: Role
  adcode: string | null
  organization: string | null
  department: string | null
}

const TOKEN_KEY = 'lianjie.token'
const ME_KEY = 'lianjie.me'

function stored<T>(key: string): T | null {
  const raw = sessionStorage.getItem(key)
  if (!raw) return null
  try {
    return JSON.parse(raw) as T
  } catch {
    return null
  }
}

export const session = reactive({
  token: sessionStorage.getItem(TOKEN_KEY),
  me: stored<Me>(ME_KEY),
  expired: false,
})

export function signedIn(token: string, me: Me): void {
  session.token = token
  session.me = me
  session.expired = false
  sessionStorage.setItem(TOKEN_KEY, token)
  sessionStorage.setItem(ME_KEY, JSON.stringify(me))
}

/** Forget the token; drafts of forms stay (they are kept under their own keys). */
export function signOut(expired = false): void {
  session.token = null
  session.me = null
  session.expired = expired
  sessionStorage.removeItem(TOKEN_KEY)
  sessionStorage.removeItem(ME_KEY)
}

export function hasRole(roles: readonly Role[] | undefined): boolean {
  if (!roles || roles.length === 0) return true
  return session.me !== null && (roles.includes(session.me.role) || session.me.role === 'admin')
}

/** The page each role starts on: its own work. */
export function landing(role: Role | undefined): string {
  switch (role) {
    case 'social_worker':
    case 'station_lead':
      return '/caseload'
    case 'coordinator':
      return '/incoming'
    case 'alliance_reviewer':
      return '/review'
    default:
      return '/overdue'
  }
}
