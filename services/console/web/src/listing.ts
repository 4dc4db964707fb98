// A paged list read from a service: its rows and total, the page shown, whether a read is
// under way, and the error of the last read (shown with a retry button by ServiceAlert).
import { ref, type Ref } from 'vue'
import type { ApiError } from './api'
import type { Page } from './types'

export interface Slice {
  limit: number
  offset: number
}

export function useListing<T>(read: (slice: Slice) => Promise<Page<T>>, pageSize = 20) {
  const rows = ref([]) as Ref<T[]>
  const total = ref(0)
  const page = ref(1)
  const busy = ref(false)
  const error = ref<ApiError | null>(null)

  async function load(): Promise<void> {
    busy.value = true
    error.value = null
    try {
      const found = await read({ limit: pageSize, offset: (page.value - 1) * pageSize })
      rows.value = found.items
      total.value = found.total
    } catch (caught) {
      error.value = caught as ApiError
    } finally {
      busy.value = false
    }
  }

  /** From the first page again (new filters). */
  function search(): Promise<void> {
    page.value = 1
    return load()
  }

  function turn(to: number): Promise<void> {
    page.value = to
    return load()
  }

  return { rows, total, page, pageSize, busy, error, load, search, turn }
}
