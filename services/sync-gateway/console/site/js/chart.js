// <e-chart :option="…" @pick="…">: one ECharts instance per element, updated when `option` changes, resized with
// its box, disposed with the component. `pick` carries the clicked datum (for drill-down).
const { h, ref, onMounted, onBeforeUnmount, watch } = Vue;

export const EChart = {
  name: "EChart",
  props: { option: { type: Object, required: true }, tall: Boolean },
  emits: ["pick"],
  setup(props, { emit }) {
    const el = ref(null);
    let chart = null;
    let observer = null;
    onMounted(() => {
      chart = echarts.init(el.value);
      chart.setOption(props.option);
      chart.on("click", (params) => emit("pick", params));
      observer = new ResizeObserver(() => chart && chart.resize());
      observer.observe(el.value);
    });
    // notMerge: a drill-down or a new filter replaces the series instead of mixing old bars into new ones.
    watch(() => props.option, (option) => chart && chart.setOption(option, true), { deep: true });
    onBeforeUnmount(() => {
      observer?.disconnect();
      chart?.dispose();
      chart = null;
    });
    return () => h("div", { ref: el, class: ["chart", props.tall ? "tall" : ""] });
  },
};

// Small option builders so the pages read as what they show, not as ECharts configuration.
export function barOption(names, values, { title = "", horizontal = false, percent = false } = {}) {
  const category = { type: "category", data: names, axisLabel: { interval: 0, rotate: horizontal ? 0 : 30 } };
  const value = { type: "value", max: percent ? 100 : undefined, axisLabel: percent ? { formatter: "{value}%" } : {} };
  return {
    title: { text: title, left: "center", textStyle: { fontSize: 14 } },
    tooltip: { trigger: "axis" },
    grid: { left: 60, right: 30, top: 56, bottom: horizontal ? 30 : 70, containLabel: horizontal },
    xAxis: horizontal ? value : category,
    yAxis: horizontal ? category : value,
    series: [{ type: "bar", data: values, label: { show: true, position: horizontal ? "right" : "top",
                                                     formatter: percent ? "{c}%" : "{c}" } }],
  };
}

export function pieOption(entries, { title = "" } = {}) {
  // Empty slices are left out (labels of zeros would crowd the ring; with nothing at all ECharts would draw equal
  // slices), but every name stays in the legend.
  const shown = entries.filter((e) => e.value > 0);
  return {
    title: { text: title, subtext: shown.length ? "" : "暂无事项", left: "center", textStyle: { fontSize: 14 } },
    tooltip: { trigger: "item", formatter: "{b}：{c}（{d}%）" },
    legend: { bottom: 0, data: entries.map((e) => e.name) },
    series: [{ type: "pie", radius: ["30%", "55%"], center: ["50%", "55%"], data: shown, stillShowZeroSum: false,
               label: { formatter: "{b}\n{c}" } }],
  };
}

export function linesOption(times, series, { title = "" } = {}) {
  return {
    title: { text: title, left: "center", textStyle: { fontSize: 14 } },
    tooltip: { trigger: "axis" },
    legend: { bottom: 0 },
    grid: { left: 50, right: 20, top: 40, bottom: 50 },
    xAxis: { type: "category", data: times, boundaryGap: false },
    yAxis: { type: "value", minInterval: 1, name: "事件/分钟" },
    series: series.map(({ name, data }) => ({ type: "line", name, data, smooth: true, showSymbol: false })),
  };
}
