// 链路健康: per service the relay's position against the store's head and each consumer group/partition's lag (idle,
// moving, lagging, stuck — stuck shows the message and the error); the national feed against what the national
// platform acknowledged, and the rejected items; dead letters per service: list, inspect, replay, discard (admin
// only, with a required reason; the server checks the role anyway). Refreshed every 5 s.
import { api, isAdmin } from "../api.js";
import { SERVICES, every, formatTime, serviceLabel } from "../format.js";

const { ref, reactive, onBeforeUnmount } = Vue;
const { ElMessage } = ElementPlus;

export const STATE_TAG = { idle: "info", moving: "success", ok: "success", lagging: "warning", stuck: "danger" };
export const STATE_LABEL = { idle: "空闲", moving: "追赶中", ok: "正常", lagging: "滞后", stuck: "停滞" };
const STATUS_LABEL = { waiting: "待处理", replayed: "已重放", discarded: "已丢弃" };

export const PipelinePage = {
  setup() {
    const data = ref(null);
    const error = ref("");
    const letters = ref({ items: [], counts: {} });
    const filter = reactive({ service: "", status: "waiting" });
    const detail = ref(null);
    const action = reactive({ open: false, kind: "replay", reason: "", busy: false, error: "" });
    const admin = isAdmin();

    async function loadPipeline() {
      try {
        data.value = await api("/console/pipeline");
        error.value = "";
      } catch (e) {
        error.value = e.message;
      }
    }
    async function loadLetters() {
      try {
        letters.value = await api("/console/dead-letters", { params: { ...filter, limit: 100 } });
      } catch (e) {
        error.value = e.message;
      }
    }
    onBeforeUnmount(every(5000, () => { loadPipeline(); loadLetters(); }));

    async function inspect(row) {
      try {
        // The service and id of the row, kept with the detail: the actions' URLs are built from them.
        detail.value = { ...(await api(`/console/dead-letters/${row.service}/${row.id}`)), service: row.service, id: row.id };
      } catch (e) {
        ElMessage.error(e.message);
      }
    }
    function ask(kind) {
      Object.assign(action, { open: true, kind, reason: "", error: "", busy: false });
    }
    async function act() {
      if (!action.reason.trim()) { action.error = "请填写原因（将与操作人一起记录）"; return; }
      action.busy = true;
      try {
        const d = detail.value;
        await api(`/console/dead-letters/${d.service}/${d.id}/${action.kind}`, { method: "POST", body: { reason: action.reason.trim() } });
        ElMessage.success(action.kind === "replay" ? "已重放" : "已丢弃");
        action.open = false;
        await inspect(d);
        loadLetters();
      } catch (e) {
        action.error = e.message;
      } finally {
        action.busy = false;
      }
    }
    const json = (v) => JSON.stringify(v, null, 2);
    return { data, error, letters, filter, loadLetters, detail, inspect, action, ask, act, admin, json,
             services: SERVICES, serviceLabel, formatTime, STATE_TAG, STATE_LABEL, STATUS_LABEL };
  },
  template: `
  <div>
    <h2 class="page-title">链路健康 <span class="muted" v-if="data">检查于 {{ formatTime(data.checked_at) }}</span></h2>
    <el-alert v-if="error" :title="error" type="error" show-icon :closable="false" class="section" />
    <el-card v-for="s in (data ? data.services : [])" :key="s.service" shadow="never" class="section" :data-test="'service-' + s.service">
      <template #header>
        <b>{{ s.label }}</b>
        <el-tag v-if="!s.reachable" type="danger" size="small" style="margin-left: 8px">不可达：{{ s.error }}</el-tag>
        <span class="muted" style="margin-left: 12px">事件库末尾 {{ s.store_head ?? '—' }} · 转发位置 {{ s.relay_position ?? '—' }} · 转发滞后 {{ s.relay_lag ?? '—' }}</span>
        <span class="muted" style="margin-left: 12px" v-if="s.dead_letters">死信：待处理 {{ s.dead_letters.waiting }}，已重放 {{ s.dead_letters.replayed }}，已丢弃 {{ s.dead_letters.discarded }}</span>
      </template>
      <div v-for="c in s.consumers" :key="c.name" class="section">
        <div><b class="mono">{{ c.name }}</b> <span class="muted mono">← {{ c.topic }}</span>
          <el-tag :type="STATE_TAG[c.status]" size="small" style="margin-left: 8px" :data-test="'consumer-status-' + c.name">{{ STATE_LABEL[c.status] || c.status }}</el-tag></div>
        <el-table :data="c.partitions" size="small">
          <el-table-column prop="partition" label="分区" width="70" />
          <el-table-column prop="committed" label="已提交" width="110" />
          <el-table-column prop="high_watermark" label="高水位" width="110" />
          <el-table-column prop="lag" label="滞后" width="90" />
          <el-table-column label="状态" width="90"><template #default="{ row }"><el-tag :type="STATE_TAG[row.state]" size="small" :data-test="'partition-state'">{{ STATE_LABEL[row.state] || row.state }}</el-tag></template></el-table-column>
          <el-table-column label="停滞于"><template #default="{ row }">
            <span v-if="row.stuck_on">偏移 {{ row.stuck_on.offset }} · 事件 <span class="mono">{{ row.stuck_on.event_id }}</span> · 已 {{ row.stuck_on.for_s }} 秒<br><span style="color: #f56c6c">{{ row.stuck_on.error }}</span></span>
          </template></el-table-column>
        </el-table>
      </div>
    </el-card>
    <el-card v-if="data && data.national" shadow="never" header="国家平台同步" class="section" data-test="national">
      <p>同步源位置 <b>{{ data.national.feed_head }}</b> · 国家平台已确认到 <b>{{ data.national.acknowledged_through }}</b>
        · 未确认 <b>{{ data.national.unacknowledged }}</b> · 最近确认 {{ formatTime(data.national.last_acknowledged_at) }}</p>
      <el-table :data="data.national.rejected" size="small" empty-text="没有被国家平台拒收的事项">
        <el-table-column label="事项"><template #default="{ row }"><a :href="'#/items/' + row.item_id">{{ row.name || row.item_id }}</a></template></el-table-column>
        <el-table-column prop="code" label="编码" width="220" />
        <el-table-column prop="item_version" label="版本" width="70" />
        <el-table-column prop="reason" label="拒收原因" />
        <el-table-column label="时间" width="170"><template #default="{ row }">{{ formatTime(row.recorded_at) }}</template></el-table-column>
      </el-table>
    </el-card>
    <el-card shadow="never" data-test="dead-letters">
      <template #header>
        <b>死信</b>
        <span class="muted" style="margin-left: 8px">{{ admin ? '管理员可重放或丢弃，须填写原因' : '仅管理员可重放或丢弃' }}</span>
      </template>
      <div class="toolbar">
        <el-select v-model="filter.service" placeholder="服务（全部）" clearable @change="loadLetters">
          <el-option v-for="s in services" :key="s.value" :label="s.label" :value="s.value" />
        </el-select>
        <el-select v-model="filter.status" @change="loadLetters">
          <el-option label="待处理" value="waiting" /><el-option label="已重放" value="replayed" /><el-option label="已丢弃" value="discarded" />
        </el-select>
      </div>
      <el-table :data="letters.items" size="small" empty-text="没有死信">
        <el-table-column label="服务" width="100"><template #default="{ row }">{{ serviceLabel(row.service) }}</template></el-table-column>
        <el-table-column prop="id" label="编号" width="80" />
        <el-table-column label="类型" width="160"><template #default="{ row }">{{ row.kind_label || row.kind }}</template></el-table-column>
        <el-table-column prop="reason" label="原因" show-overflow-tooltip />
        <el-table-column prop="attempts" label="尝试次数" width="90" />
        <el-table-column label="状态" width="90"><template #default="{ row }">{{ STATUS_LABEL[row.status] || row.status }}</template></el-table-column>
        <el-table-column label="" width="80"><template #default="{ row }"><el-button link type="primary" @click="inspect(row)" data-test="inspect">查看</el-button></template></el-table-column>
      </el-table>
    </el-card>
    <el-dialog :model-value="Boolean(detail)" @update:model-value="(v) => { if (!v) detail = null }" title="死信详情" width="820px">
      <template v-if="detail">
        <el-descriptions :column="2" border size="small" class="section">
          <el-descriptions-item label="服务">{{ serviceLabel(detail.service) }}</el-descriptions-item>
          <el-descriptions-item label="状态">{{ STATUS_LABEL[detail.status] || detail.status }}</el-descriptions-item>
          <el-descriptions-item label="消费者">{{ detail.consumer }}</el-descriptions-item>
          <el-descriptions-item label="位置">{{ detail.topic }} / {{ detail.partition }} / {{ detail.offset }}</el-descriptions-item>
          <el-descriptions-item label="尝试次数">{{ detail.attempts }}</el-descriptions-item>
          <el-descriptions-item label="原因">{{ detail.reason }}</el-descriptions-item>
        </el-descriptions>
        <p><b>消息头</b></p><pre class="json">{{ json(detail.headers) }}</pre>
        <p><b>消息内容</b></p><pre class="json">{{ json(detail.payload) }}</pre>
        <p><b>处理记录</b></p>
        <el-table :data="detail.actions || []" size="small" empty-text="尚无处理记录">
          <el-table-column label="操作" width="80"><template #default="{ row }">{{ row.action === 'replay' ? '重放' : '丢弃' }}</template></el-table-column>
          <el-table-column prop="actor" label="操作人" width="120" />
          <el-table-column prop="reason" label="原因" />
          <el-table-column label="时间" width="170"><template #default="{ row }">{{ formatTime(row.at) }}</template></el-table-column>
          <el-table-column prop="result" label="结果" width="120" />
        </el-table>
      </template>
      <template #footer>
        <el-button type="primary" :disabled="!admin || detail?.status !== 'waiting'" @click="ask('replay')" data-test="replay">重放</el-button>
        <el-button type="danger" :disabled="!admin || detail?.status !== 'waiting'" @click="ask('discard')" data-test="discard">丢弃</el-button>
      </template>
    </el-dialog>
    <el-dialog v-model="action.open" :title="action.kind === 'replay' ? '重放死信' : '丢弃死信'" width="480px">
      <el-input v-model="action.reason" type="textarea" :rows="3" placeholder="原因（必填，将记录操作人与原因）" data-test="action-reason" />
      <el-alert v-if="action.error" :title="action.error" type="error" show-icon :closable="false" style="margin-top: 8px" />
      <template #footer>
        <el-button @click="action.open = false">取消</el-button>
        <el-button type="primary" :loading="action.busy" @click="act" data-test="action-confirm">确定</el-button>
      </template>
    </el-dialog>
  </div>`,
};
