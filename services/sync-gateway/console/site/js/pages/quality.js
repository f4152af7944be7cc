// 事项质量 (what the standards ask managers to assess): 完备度 per region and per department (table + bar of the
// share), 覆盖度 per county (the province's standard items it has implemented), and the consistency findings. The
// items behind each figure are one click away: a dialog lists them, each linking to its item page.
import { api } from "../api.js";
import { EChart, barOption } from "../chart.js";
import { percent } from "../format.js";

const { ref, computed, onMounted } = Vue;

const DIVERGING = { name: "名称", item_type: "事项类型" };
const KIND = { same_basic_code: "基本编码相同", same_name_in_region_tree: "同一省内名称相同" };

export const QualityPage = {
  components: { EChart },
  setup() {
    const data = ref(null);
    const error = ref("");
    const region = ref("");
    const dialog = ref({ open: false, title: "", items: [], total: 0 });

    async function load() {
      try {
        data.value = await api("/console/quality", { params: { region: region.value.trim() } });
        coveragePage.value = 1;
        error.value = "";
      } catch (e) {
        error.value = e.message;
      }
    }
    onMounted(load);

    // Opens the dialog with the items behind a figure ({item_id, name, missing?}); `total` when the list is capped.
    function showItems(title, items, total) {
      dialog.value = { open: true, title, items: items || [], total: total ?? (items || []).length };
    }

    const byRegion = computed(() => data.value?.completeness?.by_region || []);
    const byDepartment = computed(() => data.value?.completeness?.by_department || []);
    // A province has a hundred counties or more: the least covered first, a page at a time (the chart shows the page).
    const COVERAGE_PAGE = 15;
    const coveragePage = ref(1);
    const coverageAll = computed(() => [...(data.value?.coverage || [])]
      .sort((a, b) => (a.share ?? 0) - (b.share ?? 0) || a.county_code.localeCompare(b.county_code)));
    const coverage = computed(() => coverageAll.value.slice((coveragePage.value - 1) * COVERAGE_PAGE,
                                                            coveragePage.value * COVERAGE_PAGE));
    const findings = computed(() => data.value?.consistency?.findings || []);
    const share = (rows, name) => barOption(rows.map(name), rows.map((r) => Math.round((r.share || 0) * 1000) / 10),
      { percent: true });
    const regionChart = computed(() => ({ ...share(byRegion.value, (r) => r.name), title: { text: "各区划完备度", left: "center", textStyle: { fontSize: 14 } } }));
    const departmentChart = computed(() => ({ ...share(byDepartment.value, (r) => r.department), title: { text: "各部门完备度", left: "center", textStyle: { fontSize: 14 } } }));
    const coverageChart = computed(() => ({ ...share(coverage.value, (r) => r.county_name), title: { text: "各区县覆盖度", left: "center", textStyle: { fontSize: 14 } } }));

    return { data, error, region, load, dialog, showItems, byRegion, byDepartment, coverage, coverageAll, coveragePage,
             COVERAGE_PAGE, findings,
             regionChart, departmentChart, coverageChart, percent, DIVERGING, KIND };
  },
  template: `
  <div>
    <h2 class="page-title">事项质量</h2>
    <div class="toolbar">
      <el-input v-model="region" placeholder="区划代码前缀，如 44、4401（留空：全部）" style="width: 320px" clearable @keyup.enter="load" />
      <el-button type="primary" @click="load">查询</el-button>
    </div>
    <el-alert v-if="error" :title="error" type="error" show-icon :closable="false" class="section" />
    <div class="grid2">
      <el-card shadow="never"><EChart :option="regionChart" /></el-card>
      <el-card shadow="never"><EChart :option="departmentChart" /></el-card>
    </div>
    <el-card shadow="never" header="完备度（审核所需要素齐全的事项占比）· 按区划" class="section">
      <el-table :data="byRegion" size="small" data-test="completeness-regions">
        <el-table-column prop="name" label="区划" /><el-table-column prop="code" label="代码" width="100" />
        <el-table-column prop="items" label="事项数" width="90" /><el-table-column prop="complete" label="要素齐全" width="90" />
        <el-table-column label="完备度" width="90"><template #default="{ row }">{{ percent(row.share) }}</template></el-table-column>
        <el-table-column label="不完备事项" width="120"><template #default="{ row }">
          <el-button link type="primary" @click="showItems(row.name + ' · 不完备事项', row.incomplete, row.items - row.complete)">{{ row.items - row.complete }} 项</el-button>
        </template></el-table-column>
      </el-table>
    </el-card>
    <el-card shadow="never" header="完备度 · 按部门" class="section">
      <el-table :data="byDepartment" size="small">
        <el-table-column prop="department" label="部门" />
        <el-table-column prop="items" label="事项数" width="90" /><el-table-column prop="complete" label="要素齐全" width="90" />
        <el-table-column label="完备度" width="90"><template #default="{ row }">{{ percent(row.share) }}</template></el-table-column>
        <el-table-column label="不完备事项" width="120"><template #default="{ row }">
          <el-button link type="primary" @click="showItems(row.department + ' · 不完备事项', row.incomplete, row.items - row.complete)">{{ row.items - row.complete }} 项</el-button>
        </template></el-table-column>
      </el-table>
    </el-card>
    <el-card shadow="never" header="覆盖度（区县已实施的省级标准事项；覆盖度低的在前）" class="section">
      <EChart :option="coverageChart" />
      <el-table :data="coverage" size="small">
        <el-table-column prop="county_name" label="区县" /><el-table-column prop="county_code" label="代码" width="100" />
        <el-table-column prop="standard_items" label="标准事项" width="90" /><el-table-column prop="implemented" label="已实施" width="90" />
        <el-table-column label="覆盖度" width="90"><template #default="{ row }">{{ percent(row.share) }}</template></el-table-column>
        <el-table-column label="未实施" width="120"><template #default="{ row }">
          <el-button link type="primary" @click="showItems(row.county_name + ' · 未实施的标准事项', row.missing, row.standard_items - row.implemented)">{{ row.standard_items - row.implemented }} 项</el-button>
        </template></el-table-column>
      </el-table>
      <el-pagination v-if="coverageAll.length > COVERAGE_PAGE" v-model:current-page="coveragePage" :page-size="COVERAGE_PAGE"
                     :total="coverageAll.length" layout="total, prev, pager, next" class="section" data-test="coverage-pages" />
    </el-card>
    <el-card shadow="never" :header="'一致性（同一事项、同一名称、同一类型）· 发现 ' + (data?.consistency?.count ?? findings.length) + ' 处'">
      <el-table :data="findings" size="small" data-test="consistency">
        <el-table-column label="依据" width="150"><template #default="{ row }">{{ KIND[row.kind] || row.kind }}</template></el-table-column>
        <el-table-column prop="key" label="键" width="200" />
        <el-table-column label="不一致的要素" width="150"><template #default="{ row }">{{ (row.diverging || []).map((d) => DIVERGING[d] || d).join('、') }}</template></el-table-column>
        <el-table-column prop="message" label="说明" />
        <el-table-column label="事项" width="100"><template #default="{ row }">
          <el-button link type="primary" @click="showItems(row.message, row.items)">{{ (row.items || []).length }} 项</el-button>
        </template></el-table-column>
      </el-table>
    </el-card>
    <el-dialog v-model="dialog.open" :title="dialog.title" width="760px">
      <p class="muted" v-if="dialog.total > dialog.items.length">共 {{ dialog.total }} 项，列出前 {{ dialog.items.length }} 项。</p>
      <el-table :data="dialog.items" size="small" max-height="420">
        <el-table-column label="事项"><template #default="{ row }"><a :href="'#/items/' + row.item_id">{{ row.name || row.item_id }}</a></template></el-table-column>
        <el-table-column label="区划" width="140"><template #default="{ row }">{{ row.region_name || row.region_code || '' }}</template></el-table-column>
        <el-table-column label="缺少的要素"><template #default="{ row }">{{ (row.missing || []).join('、') }}</template></el-table-column>
      </el-table>
    </el-dialog>
  </div>`,
};
