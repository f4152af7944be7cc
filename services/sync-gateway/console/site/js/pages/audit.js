// 审计日志 (auditors only): every read the four services recorded, merged by time (newest first), with filters
// (service, user, flag, time), flagged rows marked (整表导出, 跨省读取), each service's chain status (the hash chain
// from its anchor), and a csv export of the chosen service. The gateway reads each service's audit API with the
// auditor's own token; any other role is refused there (403 AUDITOR_REQUIRED) and this page shows that message.
import { API, ApiError, api, authHeaders, query } from "../api.js";
import { SERVICES, formatTime } from "../format.js";

const { ref, reactive, onMounted } = Vue;
const { ElMessage } = ElementPlus;

const FLAGS = [
  { value: "export", label: "整表导出" },
  { value: "many_regions", label: "跨省读取" },
  { value: "query_truncated", label: "查询串过长已截断" },
];

export const AuditPage = {
  setup() {
    const entries = ref([]);
    const chains = ref([]);
    const unreachable = ref({});
    const nextUntil = ref(null);
    const error = ref("");
    const filter = reactive({ service: "", subject: "", flag: "", range: null });

    function params(extra = {}) {
      const [since, until] = filter.range || [];
      return { service: filter.service, subject: filter.subject.trim(), flag: filter.flag,
               since: since ? since.toISOString() : "", until: until ? until.toISOString() : "", ...extra };
    }
    async function load(more = false) {
      try {
        const page = await api("/console/audit", { params: params(more ? { until: nextUntil.value } : {}) });
        entries.value = more ? [...entries.value, ...page.items] : page.items;
        unreachable.value = page.unreachable || {};
        nextUntil.value = page.next_until;
        error.value = "";
      } catch (e) {
        entries.value = [];
        error.value = e.message;
      }
    }
    async function loadChains() {
      try {
        chains.value = (await api("/console/audit/chains")).services;
      } catch (e) {
        chains.value = [];
      }
    }
    onMounted(() => { load(); loadChains(); });

    // The csv needs the bearer token, so it is fetched and handed to the browser as a file.
    async function download() {
      const service = filter.service || "sync";
      const { service: _, ...rest } = params();
      const response = await fetch(`${API}/console/audit/${service}.csv${query(rest)}`, { headers: authHeaders() });
      if (!response.ok) {
        let body = null;
        try { body = await response.json(); } catch { body = null; }
        ElMessage.error(new ApiError(response.status, body).message);
        return;
      }
      const link = document.createElement("a");
      link.href = URL.createObjectURL(await response.blob());
      link.download = `audit-${service}.csv`;
      link.click();
      URL.revokeObjectURL(link.href);
    }
    const flagLabel = (f) => FLAGS.find((x) => x.value === f)?.label || f;
    const rowClass = ({ row }) => ((row.flags || []).length ? "audit-flagged" : "");
    return { entries, chains, unreachable, nextUntil, error, filter, load, download, flagLabel, rowClass,
             SERVICES, FLAGS, formatTime };
  },
  template: `
  <div>
    <h2 class="page-title">审计日志</h2>
    <el-card shadow="never" header="审计链状态（各服务从保留的最早一条记录起逐条校验）" class="section">
      <el-table :data="chains" size="small" data-test="audit-chains">
        <el-table-column prop="service_label" label="服务" width="120" />
        <el-table-column label="状态" width="140"><template #default="{ row }">
          <el-tag v-if="!row.reachable" type="info">无法访问</el-tag>
          <el-tag v-else :type="row.verified ? 'success' : 'danger'">{{ row.verified_label }}</el-tag>
        </template></el-table-column>
        <el-table-column prop="records" label="记录数" width="100" />
        <el-table-column label="最早一条" width="170"><template #default="{ row }">{{ formatTime(row.oldest_at) }}</template></el-table-column>
        <el-table-column label="断点 / 原因"><template #default="{ row }">{{ row.reachable ? (row.broken_at_seq ? row.broken_at_seq + '：' + row.reason : '—') : row.error }}</template></el-table-column>
      </el-table>
    </el-card>
    <div class="toolbar">
      <el-select v-model="filter.service" placeholder="全部服务" clearable style="width: 140px" data-test="audit-service">
        <el-option v-for="s in SERVICES" :key="s.value" :label="s.label" :value="s.value" />
      </el-select>
      <el-input v-model="filter.subject" placeholder="用户（如 admin、anonymous）" clearable style="width: 200px" @keyup.enter="load()" data-test="audit-subject" />
      <el-select v-model="filter.flag" placeholder="全部标记" clearable style="width: 160px" data-test="audit-flag">
        <el-option v-for="f in FLAGS" :key="f.value" :label="f.label" :value="f.value" />
      </el-select>
      <el-date-picker v-model="filter.range" type="datetimerange" start-placeholder="起" end-placeholder="止" style="width: 360px" />
      <el-button type="primary" @click="load()" data-test="audit-search">查询</el-button>
      <el-button @click="download" data-test="audit-export">导出 csv（{{ filter.service ? SERVICES.find((s) => s.value === filter.service).label : '同步网关' }}）</el-button>
    </div>
    <el-alert v-if="error" :title="error" type="error" show-icon :closable="false" class="section" data-test="audit-error" />
    <el-alert v-for="(message, service) in unreachable" :key="service" :title="service + '：' + message" type="warning" show-icon :closable="false" class="section" />
    <el-table :data="entries" size="small" :row-class-name="rowClass" data-test="audit-entries">
      <el-table-column label="时间" width="170"><template #default="{ row }">{{ formatTime(row.at) }}</template></el-table-column>
      <el-table-column prop="service_label" label="服务" width="90" />
      <el-table-column prop="subject" label="用户" width="120" />
      <el-table-column label="角色 / 区划" width="160"><template #default="{ row }">{{ (row.roles || []).join('、') || '—' }} / {{ (row.regions || []).map((r) => r === '*' ? '全国' : r).join('、') || '—' }}</template></el-table-column>
      <el-table-column prop="client" label="来源地址" width="130" />
      <el-table-column label="读取"><template #default="{ row }"><code>{{ row.method }} {{ row.path }}{{ row.query ? '?' + row.query : '' }}</code></template></el-table-column>
      <el-table-column prop="status" label="状态码" width="80" />
      <el-table-column label="标记" width="170"><template #default="{ row }">
        <el-tag v-for="f in row.flags" :key="f" type="warning" size="small" disable-transitions style="margin-right: 4px" :data-test="'flag-' + f">{{ flagLabel(f) }}</el-tag>
      </template></el-table-column>
    </el-table>
    <div style="margin-top: 12px; text-align: center" v-if="nextUntil">
      <el-button @click="load(true)">更早的记录</el-button>
    </div>
  </div>`,
};
