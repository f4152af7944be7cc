// Shared wording and formatting of the pages (Chinese labels of the services, times in the browser's zone).
export const SERVICES = [
  { value: "registry", label: "事项登记" },
  { value: "coding", label: "事项编码" },
  { value: "lifecycle", label: "生命周期" },
  { value: "sync", label: "同步网关" },
];
export const serviceLabel = (s) => SERVICES.find((x) => x.value === s)?.label || s;
// The roles by their Chinese names, as shared/auth.py ROLE_LABELS has them (the token keeps the English keys).
const ROLE_LABELS = { entry: "录入", reviewer: "审核", tester: "测试", publisher: "发布", admin: "管理员",
  operator: "运维", national: "国家平台", auditor: "审计员" };
export const roleLabel = (r) => ROLE_LABELS[r] || r;

export function formatTime(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export const formatMinute = (iso) => formatTime(iso).slice(11, 16);
export const percent = (share) => (share === null || share === undefined ? "—" : `${Math.round(share * 1000) / 10}%`);
export const show = (v) => (v === null || v === undefined || v === "" ? "—" : typeof v === "object" ? JSON.stringify(v) : String(v));

// Refreshes `load` every `ms` while the page is shown; returns a stop function for onBeforeUnmount.
export function every(ms, load) {
  load();
  const timer = setInterval(load, ms);
  return () => clearInterval(timer);
}
