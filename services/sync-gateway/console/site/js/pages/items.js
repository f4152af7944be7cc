// 事项详情: find an item by 事项编码, national code, name or id (#/items?q=…), then its whole story (#/items/<id>):
// the timeline across services, each revision's field-level diff, its state at a chosen time (?as_of=), code history
// and lineage, feed entries and national feedback, and the hash-chain verification of each service.
import { api } from "../api.js";
import { formatTime, show } from "../format.js";

const { ref, computed, onMounted } = Vue;

const CODE_STATUS = { active: "有效", retired: "已注销", uncoded: "未赋码" };
// The lifecycle's item view, field by field, in Chinese (a field not listed here shows under its own name).
const STATE_LABELS = {
  item_id: "事项 ID", version: "生命周期版本", phase: "阶段代码", phase_label: "阶段", step: "子状态代码",
  step_label: "子状态", region_code: "区划代码", code: "事项编码", latest_revision: "最新修订",
  review_revision: "送审修订", published_revision: "已发布修订", pending: "待发布修订", test_result: "测试结果",
  planned: "计划", retired_codes: "已注销的编码", published_elements: "已发布的要素", published: "发布信息",
  allowed_commands: "当前允许的操作", national_sync: "国家平台同步", lineage: "拆分合并", last_transition: "最近一次状态变化",
  name: "事项名称", short_name: "简称", cancelled_reason: "注销原因", unpublished_reason: "下线原因",
};
// The published record's change (shared/contracts/feed.py CHANGES).
const CHANGE = { published: "上线", updated: "更新上线", maintained: "维护", unpublished: "下线", resumed: "重新上线", cancelled: "注销" };
const OPERATION = { insert: "新增（I）", update: "更新（U）", delete: "删除（D）" };
// Codes shown beside their Chinese labels are left out of the grid: the labels say it.
const HIDDEN_STATE = new Set(["phase", "step"]);

export const ItemSearchPage = {
  props: { q: String },
  setup(props) {
    const text = ref(props.q || "");
    const results = ref(null);
    const error = ref("");
    async function search() {
      if (!text.value.trim()) { results.value = null; return; }
      try {
        results.value = (await api("/console/items", { params: { q: text.value.trim() } })).items;
        error.value = "";
      } catch (e) {
        error.value = e.message;
      }
    }
    function submit() {
      // The query goes into the address, so a search can be bookmarked and the back button returns to it.
      const target = `#/items?q=${encodeURIComponent(text.value.trim())}`;
      if (location.hash === target) search(); else location.hash = target;
    }
    onMounted(search);
    return { text, results, error, submit };
  },
  template: `
  <div>
    <h2 class="page-title">事项详情 · 查找</h2>
    <div class="toolbar">
      <el-input v-model="text" placeholder="事项编码、基本编码/实施编码、事项名称或事项 ID" style="width: 460px" clearable @keyup.enter="submit" data-test="item-search" />
      <el-button type="primary" @click="submit" data-test="item-search-go">查找</el-button>
    </div>
    <el-alert v-if="error" :title="error" type="error" show-icon :closable="false" class="section" />
    <el-table v-if="results" :data="results" size="small" empty-text="没有找到匹配的事项" data-test="item-results">
      <el-table-column label="事项名称"><template #default="{ row }"><a :href="'#/items/' + row.item_id">{{ row.name }}</a></template></el-table-column>
      <el-table-column prop="code" label="事项编码" width="240" />
      <el-table-column prop="phase_label" label="阶段" width="100" />
      <el-table-column prop="region_name" label="区划" width="140" />
      <el-table-column prop="item_id" label="事项 ID" width="300" />
    </el-table>
    <p v-else class="muted">输入后按回车查找。</p>
  </div>`,
};

export const ItemPage = {
  props: { itemId: String, asOf: String },
  setup(props) {
    const item = ref(null);
    const timeline = ref([]);
    const error = ref("");
    const asOf = ref(props.asOf || null);

    async function loadTimeline() {
      // The whole story, oldest first, page by page (500 a page).
      const events = [];
      let after = null;
      for (;;) {
        const page = await api("/console/events", { params: { item_id: props.itemId, order: "asc", after, limit: 500 } });
        events.push(...(page.events || []));
        if (page.next === null || page.next === undefined || !(page.events || []).length) break;
        after = page.next;
      }
      timeline.value = events;
    }
    async function loadItem() {
      item.value = await api(`/console/items/${encodeURIComponent(props.itemId)}`, { params: { as_of: asOf.value || "" } });
    }
    async function load() {
      const results = await Promise.allSettled([loadItem(), loadTimeline()]);
      error.value = results.filter((r) => r.status === "rejected").map((r) => r.reason.message).join("；");
    }
    onMounted(load);

    function chooseTime(value) {
      // The chosen time goes into the address (#/items/<id>?as_of=…): the page can be shared as it is seen.
      const q = value ? `?as_of=${encodeURIComponent(new Date(value).toISOString())}` : "";
      location.hash = `#/items/${encodeURIComponent(props.itemId)}${q}`;
    }
    const json = (v) => JSON.stringify(v, null, 2);
    // The state's plain fields in a grid, its nested ones (elements, lists) folded below: long values stay readable.
    const isNested = (v) => v !== null && typeof v === "object";
    const scalars = computed(() => Object.fromEntries(Object.entries(item.value?.state || {})
      .filter(([k, v]) => !isNested(v) && !HIDDEN_STATE.has(k))));
    const nested = computed(() => Object.fromEntries(Object.entries(item.value?.state || {}).filter(([, v]) => isNested(v))));
    const codes = computed(() => item.value?.codes || null);
    // The item's name: as published, else as its latest revision has it (a draft has no published elements).
    const name = computed(() => item.value?.state?.published_elements?.name
      || (item.value?.revisions || []).slice(-1)[0]?.name || timeline.value.find((e) => e.item_name)?.item_name || "");
    const label = (k) => STATE_LABELS[k] || k;
    return { item, timeline, error, asOf, chooseTime, formatTime, show, json, scalars, nested, codes, CODE_STATUS,
             name, label, OPERATION, CHANGE };
  },
  template: `
  <div>
    <h2 class="page-title">事项详情 · {{ name || '（未命名）' }}
      <el-tag v-if="item && item.state" style="margin-left: 8px">{{ item.state.phase_label }}<template v-if="item.state.step_label"> · {{ item.state.step_label }}</template></el-tag>
      <span class="mono muted" style="margin-left: 8px">{{ item && item.state && item.state.code || '' }}</span>
      <span class="mono muted" style="margin-left: 8px; font-size: 12px">{{ itemId }}</span></h2>
    <el-alert v-if="error" :title="error" type="error" show-icon :closable="false" class="section" />
    <el-card shadow="never" class="section" header="哈希链校验" data-test="verification">
      <el-tag v-for="v in (item ? item.verification : [])" :key="v.service" :type="v.ok ? 'success' : 'danger'" style="margin-right: 8px" :title="v.detail">
        {{ v.label }}：{{ v.ok ? '通过' : '未通过' }}（{{ v.events }} 个事件）</el-tag>
    </el-card>
    <el-card shadow="never" class="section" data-test="state">
      <template #header>
        <b>状态</b>
        <span style="margin-left: 12px">查看某一时刻的状态：</span>
        <el-date-picker :model-value="asOf" type="datetime" placeholder="当前" @update:model-value="chooseTime" data-test="as-of" />
        <span v-if="asOf" class="muted" style="margin-left: 8px">截至 {{ formatTime(asOf) }}</span>
      </template>
      <el-descriptions v-if="item && item.state" :column="3" border size="small">
        <el-descriptions-item v-for="(v, k) in scalars" :key="k" :label="label(k)">{{ show(v) }}</el-descriptions-item>
      </el-descriptions>
      <el-collapse v-if="Object.keys(nested).length" style="margin-top: 8px">
        <el-collapse-item v-for="(v, k) in nested" :key="k" :title="label(k)"><pre class="json">{{ json(v) }}</pre></el-collapse-item>
      </el-collapse>
    </el-card>
    <el-card shadow="never" class="section" header="时间线（跨服务）">
      <el-timeline data-test="timeline">
        <el-timeline-item v-for="e in timeline" :key="e.position" :timestamp="formatTime(e.occurred_at)" placement="top">
          <b>{{ e.label || e.type }}</b> <el-tag size="small" type="info">{{ e.service_label || e.service }}</el-tag>
          <span class="muted"> 操作人 {{ e.actor || '—' }}</span><span v-if="e.reason"> · 原因：{{ e.reason }}</span>
        </el-timeline-item>
      </el-timeline>
      <p v-if="!timeline.length" class="muted">暂无事件</p>
    </el-card>
    <el-card shadow="never" class="section" header="修订与字段变化" data-test="revisions">
      <div v-for="r in (item ? item.revisions : [])" :key="r.revision" class="section">
        <b>第 {{ r.revision }} 版</b> <span class="muted">{{ formatTime(r.at) }} · {{ r.author || '—' }}</span>
        <el-table :data="r.changes" size="small" :empty-text="r.revision === 1 ? '首个修订：创建事项' : '没有要素变化'">
          <el-table-column label="要素" width="200"><template #default="{ row }">{{ row.label || row.path }}</template></el-table-column>
          <el-table-column label="修改前"><template #default="{ row }"><span v-if="row.before !== null && row.before !== undefined" class="diff-before">{{ show(row.before) }}</span></template></el-table-column>
          <el-table-column label="修改后"><template #default="{ row }"><span v-if="row.after !== null && row.after !== undefined" class="diff-after">{{ show(row.after) }}</span></template></el-table-column>
        </el-table>
      </div>
    </el-card>
    <div class="grid2">
      <el-card shadow="never" header="编码历史与拆分合并" data-test="codes">
        <p v-if="codes">当前编码：<b class="mono">{{ codes.code || '无' }}</b> <el-tag size="small">{{ CODE_STATUS[codes.status] || codes.status }}</el-tag></p>
        <el-table :data="codes ? codes.history : []" size="small" empty-text="尚未赋码">
          <el-table-column label="编码" width="220"><template #default="{ row }"><span class="mono">{{ row.display || row.code }}</span></template></el-table-column>
          <el-table-column label="状态" width="80"><template #default="{ row }">{{ CODE_STATUS[row.status] || row.status }}</template></el-table-column>
          <el-table-column label="赋码时间" width="170"><template #default="{ row }">{{ formatTime(row.allocated_at) }}</template></el-table-column>
          <el-table-column label="注销原因"><template #default="{ row }">{{ row.retire_reason || '' }}<span v-if="row.replaced_by" class="mono"> → {{ row.replaced_by }}</span></template></el-table-column>
        </el-table>
        <template v-for="side in ['predecessors', 'successors']" :key="side">
          <p v-if="codes && codes.lineage && codes.lineage[side].length"><b>{{ side === 'predecessors' ? '前序事项（拆分/合并自）' : '后续事项（拆分/合并为）' }}</b></p>
          <ul v-if="codes && codes.lineage">
            <li v-for="l in codes.lineage[side]" :key="l.item_id">
              <a :href="'#/items/' + l.item_id">{{ l.item_id }}</a> <span class="mono">{{ l.code || '未赋码' }}</span>
              <span class="muted"> {{ l.kind }} · {{ l.reason }} · {{ formatTime(l.recorded_at) }}</span></li>
          </ul>
        </template>
      </el-card>
      <el-card shadow="never" header="国家平台反馈">
        <el-table :data="item ? item.national_feedback : []" size="small" empty-text="暂无反馈">
          <el-table-column prop="item_version" label="版本" width="70" />
          <el-table-column label="结果" width="90"><template #default="{ row }">{{ row.result_label || row.result }}</template></el-table-column>
          <el-table-column prop="reason" label="原因" />
          <el-table-column label="时间" width="170"><template #default="{ row }">{{ formatTime(row.recorded_at) }}</template></el-table-column>
        </el-table>
      </el-card>
    </div>
    <el-card shadow="never" header="同步源条目">
      <el-table :data="item ? item.feed : []" size="small" empty-text="尚未进入同步源">
        <el-table-column prop="sequence" label="序号" width="90" />
        <el-table-column label="变更"><template #default="{ row }">{{ CHANGE[row.change] || row.type }}</template></el-table-column>
        <el-table-column prop="itemversion" label="版本" width="70" />
        <el-table-column label="同步类型" width="110"><template #default="{ row }">{{ OPERATION[row.operation] || row.operation }}</template></el-table-column>
        <el-table-column label="时间" width="170"><template #default="{ row }">{{ formatTime(row.time) }}</template></el-table-column>
      </el-table>
    </el-card>
  </div>`,
};
