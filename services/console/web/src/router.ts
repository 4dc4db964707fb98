import { createRouter, createWebHistory, type RouteRecordRaw } from 'vue-router'
import Layout from './layout/Layout.vue'
import { hasRole, landing, session, type Role } from './session'

declare module 'vue-router' {
  interface RouteMeta {
    title?: string // an i18n key
    group?: string // an i18n key: the menu group shown in the breadcrumbs
    roles?: Role[]
    menu?: boolean
    public?: boolean
  }
}

const WORKER: Role[] = ['social_worker', 'station_lead']
const HUB: Role[] = ['county_hub', 'station_lead']

const pages: RouteRecordRaw[] = [
  {
    path: 'caseload',
    component: () => import('./views/CaseloadView.vue'),
    meta: { title: 'menu.caseload', group: 'menu.casework', roles: WORKER, menu: true },
  },
  {
    path: 'households',
    component: () => import('./views/HouseholdsView.vue'),
    meta: { title: 'menu.households', group: 'menu.casework', roles: [...WORKER, 'county_hub'], menu: true },
  },
  {
    path: 'households/:id',
    component: () => import('./views/HouseholdView.vue'),
    meta: { title: 'household.title', group: 'menu.casework', roles: [...WORKER, 'county_hub'] },
  },
  {
    path: 'needs/:id',
    component: () => import('./views/NeedView.vue'),
    meta: { title: 'need.title', group: 'menu.casework', roles: [...WORKER, 'county_hub'] },
  },
  {
    path: 'referrals',
    component: () => import('./views/ReferralsView.vue'),
    meta: { title: 'menu.referrals', group: 'menu.casework', roles: [...WORKER, 'county_hub'], menu: true },
  },
  {
    path: 'incoming',
    component: () => import('./views/ReferralsView.vue'),
    meta: { title: 'menu.incoming', group: 'menu.resources', roles: ['coordinator'], menu: true },
  },
  {
    path: 'resources',
    component: () => import('./views/ResourcesView.vue'),
    meta: { title: 'menu.myResources', group: 'menu.resources', roles: ['coordinator'], menu: true },
  },
  {
    path: 'wishes',
    component: () => import('./views/WishesView.vue'),
    meta: { title: 'menu.wishes', group: 'menu.resources', roles: ['coordinator'], menu: true },
  },
  {
    path: 'review',
    component: () => import('./views/ReviewView.vue'),
    meta: { title: 'menu.review', group: 'menu.alliance', roles: ['alliance_reviewer', 'county_hub'], menu: true },
  },
  {
    path: 'overdue',
    component: () => import('./views/OverdueView.vue'),
    meta: { title: 'menu.overdue', group: 'menu.hub', roles: HUB, menu: true },
  },
  {
    path: 'overrides',
    component: () => import('./views/OverridesView.vue'),
    meta: { title: 'menu.overrides', group: 'menu.hub', roles: HUB, menu: true },
  },
  {
    path: 'users',
    component: () => import('./views/UsersView.vue'),
    meta: { title: 'menu.users', group: 'menu.hub', roles: ['county_hub'], menu: true },
  },
]

export const menuPages = pages.filter((page) => page.meta?.menu)

export const router = createRouter({
  history: createWebHistory(),
  routes: [
    { path: '/login', component: () => import('./views/LoginView.vue'), meta: { public: true } },
    { path: '/', component: Layout, children: pages },
    { path: '/:rest(.*)*', redirect: '/' },
  ],
})

router.beforeEach((to) => {
  if (to.meta.public) return true
  if (!session.token) return { path: '/login', query: { next: to.fullPath } }
  if (to.path === '/' || !hasRole(to.meta.roles)) return landing(session.me?.role)
  return true
})
