/**
 * Keeps a failing panel from taking the studio down with it: an error thrown
 * while rendering one panel (seat grid, invitations, activity…) replaces that
 * panel with a message and a retry, while the studio, its session and the
 * broadcast go on. Without it React unmounts the whole page, and with it the
 * host's session — ending a live stream over a display glitch.
 */
import { Component, type ErrorInfo, type ReactNode } from 'react';

interface Props {
  /** What the panel is, for the message ("the seat grid"). */
  name: string;
  children: ReactNode;
}

export class PanelBoundary extends Component<Props, { error: Error | null }> {
  override state: { error: Error | null } = { error: null };

  static getDerivedStateFromError(error: Error): { error: Error } {
    return { error };
  }

  override componentDidCatch(error: Error, info: ErrorInfo): void {
    console.error(`${this.props.name} failed to display: ${error.message}${info.componentStack ?? ''}`);
  }

  override render(): ReactNode {
    if (!this.state.error) return this.props.children;
    return (
      <div className="card error-text" role="alert" data-testid="panel-error">
        <p>
          {this.props.name} could not be shown ({this.state.error.message}). The broadcast is not affected.
        </p>
        <button type="button" onClick={() => this.setState({ error: null })}>
          Show it again
        </button>
      </div>
    );
  }
}
