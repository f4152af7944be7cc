// 实时事件: every event of every service as it happens (GET /sync/v1/stream). Built to stay responsive at 1,000
// events/s: arrivals go to a plain buffer, the table is re-rendered at most 4 times a second, and only the newest
// MAX_ROWS rows are kept (a plain table, not el-table: 500 rows re-rendered 4×/s must stay cheap).
import { api } from "../api.js";
import { openStream } from "../sse.js";
import { SERVICES, formatTime } from "../format.js";

const { ref, shallowRef, reactive, onMounted, onBeforeUnmount } = Vue;

export const MAX_ROWS = 500;
const FLUSH_MS = 250;

export const EventsPage = {
  setup() {
    const filters = reactive({ service: [], type: "", region: "", police_type: "", q: "" });
    const rows = shallowRef([]); // newest first; replaced (not mutated) on each flush
    const status = ref("connecting");
    const error = ref("");
    const paused = ref(false);
    const pending = ref(0); // arrived while paused, shown on resume
    const rate = ref(0); // events per second, over the last second
    let buffer = [];
    let arrived = 0;
    let stream = null;

    const params = () => ({ ...filters, service: filters.service.join(",") });

    function flush() {
      if (paused.value || !buffer.length) return;
      const fresh = buffer.reverse();
      buffer = [];
      rows.value = fresh.concat(rows.value).slice(0, MAX_ROWS);
    }

    async function start() {
      stream?.close();
      rows.value = [];
      buffer = [];
      pending.value = 0;
      error.value = "";
      status.value = "connecting";
      // The latest events first (so the page is not empty), then the stream from just after the newest of them.
      let after = null;
      try {
        const page = await api("/console/events", { params: { ...params(), limit: 100 } });
        rows.value = page.events || [];
        after = rows.value.length ? String(rows.value[0].position) : null;
      } catch (e) {
        error.value = e.message;
      }
      stream = openStream({
        params: params(),
        lastEventId: after,
        onEvents(events) {
          arrived += events.length;
          if (paused.value) pending.value += events.length;
          for (const e of events) buffer.push(e);
          // Only the newest MAX_ROWS can ever be shown: a long pause at a high rate must not grow memory.
          if (buffer.length > 2 * MAX_ROWS) buffer = buffer.slice(-MAX_ROWS);
        },
        onState(state) { status.value = state; if (state === "open") error.value = ""; },
        onError(message) { error.value = message; },
      });
    }

    function togglePause() {
      paused.value = !paused.value;
      if (!paused.value) { pending.value = 0; flush(); }
    }

    let flushTimer = null;
    let rateTimer = null;
    onMounted(() => {
      start();
      flushTimer = setInterval(flush, FLUSH_MS);
      rateTimer = setInterval(() => { rate.value = arrived; arrived = 0; }, 1000);
    });
    onBeforeUnmount(() => { stream?.close(); clearInterval(flushTimer); clearInterval(rateTimer); });

    return { filters, rows, status, error, paused, pending, rate, start, togglePause, services: SERVICES, formatTime, MAX_ROWS };
  },
  template: `
  <div>
    <h2 class="page-title">实时事件</h2>
    <div class="toolbar">
      <el-select v-model="filters.service" multiple collapse-tags placeholder="服务（全部）" clearable data-test="filter-service">
        <el-option v-for="s in services" :key="s.value" :label="s.label" :value="s.value" />
      </el-select>
      <el-input v-model="filters.type" placeholder="事件类型，如 lifecycle.item.*" style="width: 220px" clearable />
      <el-input v-model="filters.region" placeholder="区划代码前缀" style="width: 130px" clearable data-test="filter-region" />
      <el-input v-model="filters.police_type" placeholder="警种代码" style="width: 110px" clearable />
      <el-input v-model="filters.q" placeholder="事项编码或名称" style="width: 200px" clearable @keyup.enter="start" data-test="filter-q" />
      <el-button type="primary" @click="start" data-test="apply">应用筛选</el-button>
      <el-button @click="togglePause" data-test="pause">{{ paused ? '继续' : '暂停' }}</el-button>
      <el-tag v-if="paused" type="warning" data-test="pending">暂停中，新到 {{ pending }} 条</el-tag>
      <el-tag :type="status === 'open' ? 'success' : status === 'retrying' ? 'warning' : 'info'" data-test="stream-status">
        {{ { open: '已连接', retrying: '重连中', connecting: '连接中', closed: '已断开' }[status] }}</el-tag>
      <span class="muted rate" data-test="rate">{{ rate }} 条/秒</span>
    </div>
    <el-alert v-if="error" :title="error" type="error" show-icon :closable="false" class="section" />
    <p class="muted">显示最新 {{ rows.length }} 条（最多 {{ MAX_ROWS }} 条）。</p>
    <el-card shadow="never" body-style="padding: 0">
      <table class="el-table events-table" data-test="events">
        <thead><tr><th style="width: 160px">时间</th><th style="width: 80px">服务</th><th>事件</th><th>事项</th><th style="width: 110px">区划</th><th style="width: 110px">操作人</th><th>原因</th></tr></thead>
        <tbody>
          <tr v-for="e in rows" :key="e.position" :data-item="e.item_id">
            <td>{{ formatTime(e.occurred_at) }}</td>
            <td>{{ e.service_label || e.service }}</td>
            <td :title="e.type">{{ e.label || e.type }}</td>
            <td><a v-if="e.item_id" :href="'#/items/' + e.item_id">{{ e.item_name || e.item_id }}</a>
                <span v-if="e.item_code" class="muted mono"> {{ e.item_code }}</span></td>
            <td>{{ e.region_name || e.region_code || '—' }}</td>
            <td>{{ e.actor || '—' }}</td>
            <td>{{ e.reason || '' }}</td>
          </tr>
          <tr v-if="!rows.length"><td colspan="7" class="muted" style="text-align: center">暂无事件（新事件会即时出现）</td></tr>
        </tbody>
      </table>
    </el-card>
  </div>`,
};
