/**
 * Catches an error thrown while rendering its children (or loading their
 * code) and shows `fallback` instead; `clear` renders the children again.
 * PanelBoundary (one studio panel) and PageBoundary (a whole page) build on it.
 */
import { Component, type ErrorInfo, type ReactNode } from 'react';

export interface ErrorBoundaryProps {
  /** What failed, for the console ("The seat grid failed to display: …"). */
  what: string;
  fallback: (error: Error, clear: () => void) => ReactNode;
  children: ReactNode;
}

export class ErrorBoundary extends Component<ErrorBoundaryProps, { error: Error | null }> {
  override state: { error: Error | null } = { error: null };

  static getDerivedStateFromError(error: Error): { error: Error } {
    return { error };
  }

  override componentDidCatch(error: Error, info: ErrorInfo): void {
    console.error(`${this.props.what}: ${error.message}${info.componentStack ?? ''}`);
  }

  override render(): ReactNode {
    if (!this.state.error) return this.props.children;
    return this.props.fallback(this.state.error, () => this.setState({ error: null }));
  }
}
