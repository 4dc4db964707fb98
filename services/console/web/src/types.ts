// The shapes the services answer with (see their OpenAPI at /docs on each service).
export interface Explanation {
  components: Record<string, number>
  weights: Record<string, number>
  filters_passed: string[]
  category_offered: string
}

export interface RankedResource {
  resource_id: string
  name: string
  kind: string
  score: number
  distance_km: number
  capacity_remaining: number
  capacity_unit: string
  explanation: Explanation
}

export interface Approval {
  department: string
  review_round: number
  decision: string
  comment: string | null
  decided_by: string | null
  decided_at: string | null
  due_at: string
}

export interface Referral {
  id: string
  need_id: string
  resource_id: string
  resource_name: string
  resource_kind: string
  state: string
  note: string
  match_rank: number | null
  match_score: number | null
  match_distance_km: number | null
  match_explanation: Explanation | null
  override_reason: string | null
  review_reasons: string[]
  review_departments: string[]
  approvals: Approval[]
  outcome_result: string | null
  satisfaction: number | null
  due_at: string | null
  overdue: boolean
  allowed: string[]
  created_at: string
}

export interface Page<T> {
  items: T[]
  total: number
}

export interface Household {
  id: string
  address: string
  adcode: string
  hardship_categories: string[]
  social_worker: string | null
  created_at: string
}

export interface Person {
  id: string
  name: string
  resident_id: string | null
  gender: string | null
  is_head: boolean
  groups: string[]
  tier: number | null
  case_status: string
  next_visit_due: string | null
}

export interface Need {
  id: string
  household_id: string
  category: string
  description: string
  urgency: number
  quantity: number
  unit: string
  status: string
  created_at: string
}
