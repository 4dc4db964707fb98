// Departments of the rescue alliance that review referrals (codes the needs service takes).
export const DEPARTMENTS = ['civil_affairs', 'medical_insurance', 'health', 'education', 'disabled_persons_federation']
