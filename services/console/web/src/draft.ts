// A form's values kept in sessionStorage while it is open: a failed save, a refresh or an
// expired sign-in loses nothing typed. `clear()` once the save went through.
import { reactive, watch } from 'vue'

export function useDraft<T extends object>(key: string, initial: () => T) {
  const storageKey = `lianjie.draft.${key}`
  let saved: Partial<T> = {}
  try {
    saved = JSON.parse(sessionStorage.getItem(storageKey) ?? '{}') as Partial<T>
  } catch {
    saved = {}
  }
  const values = reactive({ ...initial(), ...saved }) as T
  watch(values, (now) => sessionStorage.setItem(storageKey, JSON.stringify(now)), { deep: true })
  function clear(): void {
    sessionStorage.removeItem(storageKey)
    Object.assign(values, initial())
    sessionStorage.removeItem(storageKey)
  }
  return { values, clear }
}
