// Households opened or registered in this tab lately, until the needs service can list them
// (sessionStorage: gone when the tab closes, as addresses are personal data).
import type { Household } from './types'

const KEY = 'lianjie.recentHouseholds'

export interface RecentHousehold {
  id: string
  address: string
}

export function recentHouseholds(): RecentHousehold[] {
  try {
    return JSON.parse(sessionStorage.getItem(KEY) ?? '[]') as RecentHousehold[]
  } catch {
    return []
  }
}

export function rememberHousehold(household: Pick<Household, 'id' | 'address'>): void {
  const rest = recentHouseholds().filter((h) => h.id !== household.id)
  const kept = [{ id: household.id, address: household.address }, ...rest].slice(0, 20)
  sessionStorage.setItem(KEY, JSON.stringify(kept))
}
