// The category taxonomy with its labels, read once from the console (shared/taxonomy.py).
import { ref } from 'vue'
import { currentLocale } from './i18n'

export interface Category {
  code: string
  zh: string
  en: string
  parent: string | null
}

export const categories = ref<Category[]>([])

export async function loadCategories(): Promise<void> {
  if (categories.value.length) return
  try {
    const response = await fetch('/console/categories')
    if (response.ok) categories.value = (await response.json()) as Category[]
  } catch {
    // the labels fall back to the codes
  }
}

export function categoryLabel(code: string): string {
  const found = categories.value.find((c) => c.code === code)
  if (!found) return code
  return currentLocale() === 'en' ? found.en : found.zh
}
