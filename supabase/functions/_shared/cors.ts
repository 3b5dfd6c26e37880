/** CORS headers for functions called from the browser (studio, guest page) through supabase-js. */
export const corsHeaders: Readonly<Record<string, string>> = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Allow-Headers': 'authorization, x-client-info, apikey, content-type',
  'Access-Control-Allow-Methods': 'POST, OPTIONS',
};

/** The answer to a CORS preflight. */
export function preflightResponse(): Response {
  return new Response('ok', { headers: corsHeaders });
}
