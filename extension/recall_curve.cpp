// Recall curves and targets (recall_curve.hpp).
#include "extension/recall_curve.hpp"

#include <algorithm>
#include <cmath>

namespace ruvector {

namespace {
bool suspended = false;
}

double recall_lower_bound(double r, double n)
{
	return r - 1.645 * std::sqrt(std::max(r * (1 - r), 0.0) / std::max(n, 1.0));
}

int curve_point_for_target(const RecallCurve &curve, double target)
{
	int points = std::min<int>(curve.points, kCurveMaxPoints);
	for (int i = 0; i < points; i++)
		if (recall_lower_bound(curve.recall[i], curve.sample) >= target || i == points - 1)
			return i;
	return -1;
}

void describe_target(StringInfo out, double target, float measured)
{
	if (target > 0 && measured >= 0)
		appendStringInfo(out, " (for target recall %.3g: %.3g measured)", target, double(measured));
	else if (target > 0)
		appendStringInfo(out, " (fixed: target recall %.3g, but the index has no measured curve)", target);
}

void report_rebuilt_while_measured(Relation index)
{
	ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					errmsg("index \"%s\" was rebuilt while its recall was measured", RelationGetRelationName(index)),
					errhint("Run ruvector_index_tune again.")));
}

void cover_meta(Page page, Size meta_size)
{
	auto *header = reinterpret_cast<PageHeader>(page);
	header->pd_lower = std::max<uint16>(header->pd_lower, uint16(MAXALIGN(SizeOfPageHeaderData) + meta_size));
}

bool targets_suspended() { return suspended; }
void suspend_targets(bool on) { suspended = on; }

}  // namespace ruvector
