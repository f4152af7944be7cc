// The console's shell: a tiny hash router (#/overview, #/items/<id>, #/items?q=…), the sign-in screen, the left menu
// and the header (who is signed in). Each page is one module under pages/.
import { api, claims, clearToken, getToken, setToken } from "./api.js";
import { roleLabel } from "./format.js";
import { OverviewPage } from "./pages/overview.js";
import { QualityPage } from "./pages/quality.js";
import { EventsPage } from "./pages/events.js";
import { PipelinePage } from "./pages/pipeline.js";
import { ItemSearchPage, ItemPage } from "./pages/items.js";
import { AuditPage } from "./pages/audit.js";

const { createApp, reactive, computed, ref } = Vue;

const MENU = [
  { path: "/overview", label: "总览" },
  { path: "/quality", label: "事项质量" },
  { path: "/events", label: "实时事件" },
  { path: "/pipeline", label: "链路健康" },
  { path: "/items", label: "事项详情" },
];
// The auditor's menu: the audit log only (an auditor reads nothing else; the other pages would answer 403).
const AUDITOR_MENU = [{ path: "/audit", label: "审计日志" }];
const isAuditor = () => (claims()?.roles || []).includes("auditor");

function parseHash() {
  const [path, search = ""] = (location.hash.slice(1) || "/overview").split("?");
  return { path: path || "/overview", query: Object.fromEntries(new URLSearchParams(search)) };
}

const route = reactive(parseHash());
window.addEventListener("hashchange", () => Object.assign(route, parseHash()));

export function navigate(path, query = {}) {
  const q = new URLSearchParams(Object.entries(query).filter(([, v]) => v)).toString();
  location.hash = `#${path}${q ? `?${q}` : ""}`;
}

const SignIn = {
  emits: ["signed-in"],
  setup(_, { emit }) {
    const token = ref("");
    const error = ref("");
    const busy = ref(false);
    async function submit() {
      const value = token.value.trim().replace(/^Bearer\s+/i, "");
      if (!value) { error.value = "请粘贴访问令牌"; return; }
      busy.value = true;
      error.value = "";
      setToken(value);
      try {
        // The server decides: a token it refuses (401) or a role the console is not for (403 CONSOLE_ROLE_REQUIRED)
        // shows its Chinese message here; anything else lets the operator in (each page reports its own errors).
        await api(isAuditor() ? "/console/audit/chains" : "/console/events", isAuditor() ? {} : { params: { limit: 1 } });
        emit("signed-in");
      } catch (e) {
        if (e.status === 401 || e.status === 403) {
          clearToken();
          error.value = e.message;
        } else {
          emit("signed-in");
        }
      } finally {
        busy.value = false;
      }
    }
    return { token, error, busy, submit };
  },
  template: `
  <div class="signin">
    <el-card>
      <template #header><b>运维控制台 · 登录</b></template>
      <p class="muted">粘贴访问令牌（Bearer token）。开发环境中 <code>make dev</code>（<code>shixiang dev</code>）启动时会打印演示令牌：
        运维人员用 <code>operator</code>，管理员用 <code>admin</code>（全国）或 <code>admin-gd</code>（广东），审计员用 <code>auditor</code>（只看审计日志）。令牌只保存在本标签页（关闭即清除）。</p>
      <el-input v-model="token" type="textarea" :rows="5" placeholder="eyJhbGciOi…" data-test="token" />
      <el-alert v-if="error" :title="error" type="error" show-icon :closable="false" style="margin-top: 12px" data-test="signin-error" />
      <div style="margin-top: 12px; text-align: right">
        <el-button type="primary" :loading="busy" @click="submit" data-test="signin">登录</el-button>
      </div>
    </el-card>
  </div>`,
};

const Shell = {
  components: { SignIn, OverviewPage, QualityPage, EventsPage, PipelinePage, ItemSearchPage, ItemPage, AuditPage },
  setup() {
    const signedIn = ref(Boolean(getToken()));
    const who = computed(() => (signedIn.value ? claims() || {} : {}));
    window.addEventListener("console-unauthorized", () => { clearToken(); signedIn.value = false; });
    const active = computed(() => "/" + route.path.split("/")[1]);
    const page = computed(() => {
      const parts = route.path.split("/").filter(Boolean);
      if (isAuditor()) return { is: "AuditPage" };  // the only page an auditor may read
      if (parts[0] === "items" && parts[1]) return { is: "ItemPage", props: { itemId: decodeURIComponent(parts[1]), asOf: route.query.as_of || "" } };
      return {
        overview: { is: "OverviewPage" }, quality: { is: "QualityPage" }, events: { is: "EventsPage" },
        pipeline: { is: "PipelinePage" }, items: { is: "ItemSearchPage", props: { q: route.query.q || "" } },
        audit: { is: "AuditPage" },
      }[parts[0]] || { is: "OverviewPage" };
    });
    function signOut() { clearToken(); signedIn.value = false; }
    const menu = computed(() => (signedIn.value && isAuditor() ? AUDITOR_MENU : MENU));
    return { signedIn, who, menu, active, page, signOut, navigate, route, roleLabel };
  },
  template: `
  <el-config-provider :locale="locale">
    <SignIn v-if="!signedIn" @signed-in="signedIn = true" />
    <el-container v-else class="layout">
      <el-aside width="200px" class="aside">
        <div class="brand">运维控制台</div>
        <el-menu :default-active="active" background-color="#1f2d3d" text-color="#bfcbd9" active-text-color="#409eff"
                 @select="(p) => navigate(p)">
          <el-menu-item v-for="m in menu" :key="m.path" :index="m.path" :data-test="'menu-' + m.path.slice(1)">{{ m.label }}</el-menu-item>
        </el-menu>
      </el-aside>
      <el-container>
        <el-header class="header">
          <span class="muted">公安政务服务事项 · 运维</span>
          <span class="who" data-test="who">
            <span>当前用户：<b>{{ who.sub || '—' }}</b></span>
            <el-tag v-for="r in who.roles || []" :key="r" size="small">{{ roleLabel(r) }}</el-tag>
            <span class="muted">区划：{{ (who.regions || []).map((r) => r === '*' ? '全国' : r).join('、') || '—' }}</span>
            <el-button size="small" @click="signOut" data-test="signout">退出</el-button>
          </span>
        </el-header>
        <el-main class="main">
          <component :is="page.is" v-bind="page.props || {}" :key="route.path + JSON.stringify(route.query)" />
        </el-main>
      </el-container>
    </el-container>
  </el-config-provider>`,
};

const app = createApp({
  components: { Shell },
  setup: () => ({}),
  template: `<Shell />`,
});
app.config.globalProperties.locale = ElementPlusLocaleZhCn;
app.use(ElementPlus, { locale: ElementPlusLocaleZhCn });
app.mount("#app");
