// 总览: items per phase (cards and a pie), per region (bars; a click drills province → city → county, the breadcrumb
// goes back up), per police type; events per minute per service over the last hour; imports running. Every 10 s.
import { api } from "../api.js";
import { EChart, barOption, linesOption, pieOption } from "../chart.js";
import { every, formatMinute, formatTime, serviceLabel } from "../format.js";

const { ref, computed, onBeforeUnmount } = Vue;

// The prefix that selects a region's children: province 440000 → "44", city 440100 → "4401"; a county has none.
export function drillPrefix(code) {
  if (/^\d{2}$/.test(code) || /^\d{4}$/.test(code)) return code; // already a prefix
  if (/^\d{2}0000$/.test(code)) return code.slice(0, 2);
  if (/^\d{4}00$/.test(code)) return code.slice(0, 4);
  return null;
}

export const OverviewPage = {
  components: { EChart },
  setup() {
    const data = ref(null);
    const activity = ref(null);
    const error = ref("");
    const trail = ref([{ code: "", name: "全部区划" }]); // the breadcrumb; its last entry is the region shown
    const region = computed(() => trail.value[trail.value.length - 1].code);

    async function load() {
      try {
        const [overview, perMinute] = await Promise.all([
          api("/console/overview", { params: { region: region.value } }),
          api("/console/activity", { params: { minutes: 60 } }),
        ]);
        data.value = overview;
        activity.value = perMinute;
        error.value = "";
      } catch (e) {
        error.value = e.message;
      }
    }
    onBeforeUnmount(every(10000, load));

    function drill(params) {
      const row = data.value?.regions?.[params.dataIndex];
      const prefix = row && drillPrefix(row.code);
      if (!prefix) return;
      trail.value = [...trail.value, { code: prefix, name: row.name }];
      load();
    }
    function back(index) {
      trail.value = trail.value.slice(0, index + 1);
      load();
    }

    const phaseChart = computed(() => pieOption(
      (data.value?.phases || []).map((p) => ({ name: p.label, value: p.count })), { title: "各阶段事项数" }));
    const regionChart = computed(() => barOption(
      (data.value?.regions || []).map((r) => r.name), (data.value?.regions || []).map((r) => r.count),
      { title: "各区划事项数（点击柱条下钻）" }));
    const policeChart = computed(() => barOption(
      (data.value?.police_types || []).map((p) => p.name), (data.value?.police_types || []).map((p) => p.count),
      { title: "各警种事项数", horizontal: true }));
    const activityChart = computed(() => linesOption(
      (activity.value?.minutes || []).map(formatMinute),
      Object.entries(activity.value?.series || {}).map(([service, counts]) => ({ name: serviceLabel(service), data: counts })),
      { title: "近一小时各服务每分钟事件数" }));

    return { data, error, trail, drill, back, phaseChart, regionChart, policeChart, activityChart, formatTime };
  },
  template: `
  <div>
    <h2 class="page-title">总览</h2>
    <el-alert v-if="error" :title="error" type="error" show-icon :closable="false" class="section" />
    <el-breadcrumb separator="/" class="section" data-test="region-trail">
      <el-breadcrumb-item v-for="(r, i) in trail" :key="i">
        <a v-if="i < trail.length - 1" href="javascript:void(0)" @click="back(i)">{{ r.name }}</a>
        <span v-else>{{ r.name }}</span>
      </el-breadcrumb-item>
    </el-breadcrumb>
    <div class="cards">
      <el-card shadow="never" data-test="card-total">
        <div class="card-number" data-test="total">{{ data ? data.total : '—' }}</div><div class="card-label">事项总数</div>
      </el-card>
      <el-card v-for="p in (data ? data.phases : [])" :key="p.phase" shadow="never" :data-test="'card-' + p.phase">
        <div class="card-number" :data-test="'phase-' + p.phase">{{ p.count }}</div><div class="card-label">{{ p.label }}</div>
      </el-card>
    </div>
    <div class="grid2">
      <el-card shadow="never"><EChart :option="phaseChart" /></el-card>
      <el-card shadow="never"><EChart :option="regionChart" @pick="drill" /></el-card>
      <el-card shadow="never"><EChart :option="policeChart" /></el-card>
      <el-card shadow="never"><EChart :option="activityChart" /></el-card>
    </div>
    <el-card shadow="never" header="正在进行的导入">
      <el-table :data="data ? data.imports_running : []" size="small" empty-text="当前没有正在进行的导入">
        <el-table-column prop="filename" label="文件" />
        <el-table-column prop="started_by" label="发起人" width="140" />
        <el-table-column label="开始时间" width="180"><template #default="{ row }">{{ formatTime(row.started_at) }}</template></el-table-column>
        <el-table-column label="进度" width="260">
          <template #default="{ row }">
            <el-progress :percentage="row.rows_total ? Math.round(100 * row.rows_done / row.rows_total) : 0" />
            <span class="muted">{{ row.rows_done }} / {{ row.rows_total ?? '?' }} 行</span>
          </template>
        </el-table-column>
        <el-table-column prop="status" label="状态" width="100" />
      </el-table>
    </el-card>
  </div>`,
};
