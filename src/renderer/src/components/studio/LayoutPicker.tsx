import { PROGRAM_LAYOUTS, type ProgramLayoutKind } from '../../../../shared/layout';

const LABELS: Record<ProgramLayoutKind, string> = { grid: 'Grid', 'side-by-side': 'Side by side', pip: 'Picture in picture', spotlight: 'Spotlight' };

export function LayoutPicker({ value, onChange }: { value: ProgramLayoutKind; onChange: (kind: ProgramLayoutKind) => void }) {
  return (
    <div className="row wrap" role="radiogroup" aria-label="Program layout" data-testid="layout-picker">
      {PROGRAM_LAYOUTS.map((kind) => (
        <button key={kind} type="button" role="radio" aria-checked={value === kind} className={value === kind ? 'selected' : ''} onClick={() => onChange(kind)} data-testid={`layout-${kind}`}>
          {LABELS[kind]}
        </button>
      ))}
    </div>
  );
}
